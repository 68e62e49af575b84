// Worker threads get no TypeScript loader from the parent: register tsx here, then load the worker.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
