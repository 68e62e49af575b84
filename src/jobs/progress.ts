/** What long jobs report after each unit of work (front ends draw a bar from it). */
export interface JobProgress {
  /** Units done so far. */
  done: number;
  /** Units in all, when known. */
  total: number | undefined;
  /** Units per second so far. */
  rate: number;
  /** What a unit is ("frames", "steps", "videos"). */
  unit: string;
}
