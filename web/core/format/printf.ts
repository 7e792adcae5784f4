// C's printf conversions %.Nf and %g for doubles, as glibc prints them: from the exact binary
// value, rounded to nearest with ties to even. (JS toFixed and toPrecision round ties away from
// zero and switch to exponents at other thresholds.)

/** A finite double exactly, as m × 2^e. */
function decompose(x: number): [bigint, number] {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, x);
  const bits = v.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  return exp === 0 ? [frac, -1074] : [frac | (1n << 52n), exp - 1075];
}

/** |x| × 10^p rounded to an integer, ties to even. */
function scaled(x: number, p: number): bigint {
  const [m, e] = decompose(Math.abs(x));
  let num = m;
  let den = 1n;
  if (e >= 0) num <<= BigInt(e);
  else den <<= BigInt(-e);
  if (p >= 0) num *= 10n ** BigInt(p);
  else den *= 10n ** BigInt(-p);
  const q = num / den;
  const twice = 2n * (num % den);
  return twice > den || (twice === den && (q & 1n) === 1n) ? q + 1n : q;
}

const sign = (x: number): string => (x < 0 || Object.is(x, -0) ? '-' : '');

function check(x: number): void {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite number: ${x}`);
}

/** Digits of q with a decimal point `frac` places from the right. */
function point(q: bigint, frac: number): string {
  const d = q.toString().padStart(frac + 1, '0');
  return frac > 0 ? `${d.slice(0, -frac)}.${d.slice(-frac)}` : d;
}

/** printf("%.*f", prec, x). */
export function formatFixed(x: number, prec: number): string {
  check(x);
  return sign(x) + point(scaled(x, prec), prec);
}

/** printf("%.*g", prec, x); plain %g is precision 6. */
export function formatG(x: number, prec = 6): string {
  check(x);
  const P = prec === 0 ? 1 : prec;
  if (x === 0) return sign(x) + '0';
  // X: the decimal exponent of x once rounded to P significant digits.
  let X = Math.floor(Math.log10(Math.abs(x)));
  let q = scaled(x, P - 1 - X);
  const lo = 10n ** BigInt(P - 1);
  if (q >= lo * 10n) q = scaled(x, P - 1 - ++X);
  else if (q < lo) q = scaled(x, P - 1 - --X);
  if (q >= lo * 10n) q = scaled(x, P - 1 - ++X); // rounding carried into a new digit
  const strip = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (X >= -4 && X < P) return sign(x) + strip(point(q, P - 1 - X));
  const exp = `e${X < 0 ? '-' : '+'}${String(Math.abs(X)).padStart(2, '0')}`;
  return sign(x) + strip(point(q, P - 1)) + exp;
}
