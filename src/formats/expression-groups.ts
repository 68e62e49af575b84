/**
 * Expression groups: a sidecar file beside a referring split that puts each expression into named
 * groups, so that an evaluation can report J, F and J&F per group next to the overall figures (e.g.
 * the expressions only motion resolves). The official files of the split are left as they are.
 *
 *   expression_groups.json   {"videos": {<video>: {<exp_id>: [<group>, …]}}}
 *
 * `vidseg synth refer` writes one per split (src/synth/refer.ts: the checker's reading of each sentence);
 * a user may write their own (e.g. MeViS' motion expressions). An expression listed nowhere belongs to
 * no group.
 */
import { join } from "node:path";
import { readJson, writeJsonAtomic } from "../core/fs.js";
import { JsonChecker } from "./json-check.js";

export const EXPRESSION_GROUPS_FILE = "expression_groups.json";

/** Video → expression id → its groups. */
export interface ExpressionGroups {
  videos: Record<string, Record<string, string[]>>;
}

export function expressionGroupsPath(splitRoot: string): string {
  return join(splitRoot, EXPRESSION_GROUPS_FILE);
}

/** Validates a parsed groups file; errors name the file and the JSON path. */
export function parseExpressionGroups(json: unknown, file = EXPRESSION_GROUPS_FILE): ExpressionGroups {
  const v = new JsonChecker(file);
  const videosJson = v.object(v.object(json, "$").videos, "$.videos");
  const videos: ExpressionGroups["videos"] = {};
  // Object.entries reads own properties only; readJson has refused prototype keys.
  for (const [video, expressionsJson] of Object.entries(videosJson)) {
    const at = `$.videos[${JSON.stringify(video)}]`;
    const expressions: Record<string, string[]> = {};
    for (const [expId, groupsJson] of Object.entries(v.object(expressionsJson, at))) {
      const expAt = `${at}[${JSON.stringify(expId)}]`;
      const groups = v.stringArray(groupsJson, expAt);
      groups.forEach((group, k) => {
        v.fail(group.trim() === "", "a group name must not be empty", `${expAt}[${k}]`);
        v.fail(groups.indexOf(group) !== k, `group "${group}" is listed twice`, `${expAt}[${k}]`);
      });
      expressions[expId] = groups;
    }
    videos[video] = expressions;
  }
  return { videos };
}

export async function readExpressionGroups(file: string): Promise<ExpressionGroups> {
  return parseExpressionGroups(await readJson(file), file);
}

export async function writeExpressionGroups(file: string, groups: ExpressionGroups): Promise<void> {
  await writeJsonAtomic(file, groups);
}
