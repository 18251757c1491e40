/**
 * The optimiser's vector arithmetic over the parameter vector (never over samples). Small
 * monomorphic functions: V8 compiles each to a tight loop, about twice as fast as the same loop
 * inlined in a larger function.
 */

export function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** y += alpha * x */
export function axpy(alpha: number, x: Float64Array, y: Float64Array): void {
  const n = y.length;
  for (let i = 0; i < n; i++) y[i] = (y[i] as number) + alpha * (x[i] as number);
}

/** x *= alpha */
export function scale(alpha: number, x: Float64Array): void {
  const n = x.length;
  for (let i = 0; i < n; i++) x[i] = alpha * (x[i] as number);
}

/** Largest absolute component. */
export function maxAbs(v: Float64Array): number {
  let m = 0;
  const n = v.length;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(v[i] as number);
    if (a > m) m = a;
  }
  return m;
}

/** out = a - b */
export function difference(a: Float64Array, b: Float64Array): Float64Array {
  const n = a.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (a[i] as number) - (b[i] as number);
  return out;
}

/** x + alpha * d, as a new vector. */
export function step(x: Float64Array, alpha: number, d: Float64Array): Float64Array {
  const n = x.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (x[i] as number) + alpha * (d[i] as number);
  return out;
}
