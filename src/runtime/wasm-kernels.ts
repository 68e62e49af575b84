/** Project-owned wasm kernels and gradients for training (filled in below). */
let registered = false;

export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
}
