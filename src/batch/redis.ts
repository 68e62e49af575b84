/**
 * Where the queue lives: a Redis URL (`--redis`, else VIDSEG_REDIS_URL, else loopback), and the password
 * from the environment only (VIDSEG_REDIS_PASSWORD, or VIDSEG_REDIS_URL itself), never from a command
 * line, where other users of the machine can read it.
 */
import { Redis, type RedisOptions } from "ioredis";
import { VidsegError } from "../core/errors.js";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** Environment variables read here. */
export const REDIS_URL_VARIABLE = "VIDSEG_REDIS_URL";
export const REDIS_PASSWORD_VARIABLE = "VIDSEG_REDIS_PASSWORD";

function parseRedisUrl(url: string, where: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new VidsegError(`expected a URL such as ${DEFAULT_REDIS_URL}, got "${url}"`, undefined, where);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
    throw new VidsegError(`expected a redis:// or rediss:// URL, got "${url}"`, undefined, where);
  return parsed;
}

/**
 * Checks a Redis URL given on the command line: it must not carry a password (in the user part or as a
 * query parameter); the password comes from VIDSEG_REDIS_PASSWORD.
 */
export function checkCommandLineRedisUrl(url: string): void {
  const parsed = parseRedisUrl(url, "--redis");
  if (parsed.password !== "" || parsed.searchParams.has("password"))
    throw new VidsegError(
      `a password on the command line is visible to every user of the machine: set ${REDIS_PASSWORD_VARIABLE} (or ${REDIS_URL_VARIABLE}) instead`,
      undefined,
      "--redis",
    );
}

/** The URL to use: the given one, else VIDSEG_REDIS_URL, else the loopback default. */
export function redisUrl(url?: string): string {
  return url ?? (process.env[REDIS_URL_VARIABLE] || DEFAULT_REDIS_URL);
}

/** The URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "***");
    return parsed.toString();
  } catch {
    return "(unreadable URL)";
  }
}

/** One line for a connection error: what the user should do about it. */
export function redisErrorMessage(url: string, error: Error): string {
  const where = redactRedisUrl(url);
  if (/NOAUTH|WRONGPASS|invalid password|invalid username-password/i.test(error.message))
    return `Redis at ${where} refused the credentials (${error.message.split("\n")[0]}); set ${REDIS_PASSWORD_VARIABLE}`;
  return `cannot reach Redis at ${where} (${error.message.split("\n")[0]})`;
}

export interface ConnectOptions {
  /**
   * A worker's connection: commands wait across disconnections and it reconnects for ever (what BullMQ
   * workers need). Otherwise (submit, status) a failed connection is an error at once.
   */
  persistent?: boolean;
  /** Connection problems of a persistent connection (it keeps retrying). */
  onError?: (message: string) => void;
}

/** Opens a connection to the Redis at `url` (see the module comment for the password). */
export async function connectRedis(url: string, options: ConnectOptions = {}): Promise<Redis> {
  const parsed = parseRedisUrl(url, REDIS_URL_VARIABLE);
  const password = process.env[REDIS_PASSWORD_VARIABLE];
  const settings: RedisOptions = {
    lazyConnect: true,
    ...(password ? { password } : {}),
    ...(options.persistent
      ? { maxRetriesPerRequest: null, retryStrategy: (times: number) => Math.min(200 * times, 2000) }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => null }),
  };
  const redis = new Redis(parsed.toString(), settings);
  let reported = "";
  let lastError: Error | undefined;
  redis.on("error", (error: Error) => {
    lastError = error;
    // Report each distinct problem once per outage, not every reconnection attempt.
    const message = redisErrorMessage(url, error);
    if (message !== reported) options.onError?.(message);
    reported = message;
  });
  redis.on("ready", () => (reported = ""));
  try {
    await redis.connect();
  } catch (error) {
    if (!options.persistent) {
      redis.disconnect();
      // The socket's error (e.g. ECONNREFUSED) says more than the rejection ("Connection is closed").
      throw new VidsegError(redisErrorMessage(url, lastError ?? (error as Error)));
    }
    // A worker may start before Redis does: it keeps trying.
  }
  return redis;
}
