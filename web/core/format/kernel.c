/* The hot loop of the dump formatters (lines.ts) in WebAssembly SIMD: squeeze repeated lines and
 * format the others, for hexdump -C (offsets below 2^32) and nbddump without colour (below
 * 2^40). Each 16-byte output vector of a line is four table lookups (i8x16.swizzle) into the
 * line's hex digits, text and offset digits, or'ed with its fixed characters.
 *
 * `npm run generate` builds it into kernel-wasm.ts (scripts/generate/kernel.ts); kernel.ts
 * loads it. */

#include <stdint.h>
#include <wasm_simd128.h>

/* Where a formatter stands between two lines (kernel.ts keeps it in memory at state_ptr). */
typedef struct {
  uint64_t offset;     /* offset of the next line */
  uint64_t squeezable; /* lines from here on that may be squeezed */
  uint32_t has_prev;
  uint32_t starred;
  uint8_t prev[16];    /* the last line printed or squeezed */
} State;

enum { HEXDUMP = 0, NBDDUMP = 1, KINDS = 2, VECTORS = 5 };

/* Per kind and output vector: swizzle indices into the first and second eight bytes' digits,
 * the text and the offset digits (16 and more mean "not from here"), and the fixed characters. */
static v128_t IDX_LO[KINDS][VECTORS], IDX_HI[KINDS][VECTORS], IDX_TEXT[KINDS][VECTORS], IDX_OFF[KINDS][VECTORS];
static v128_t FIXED[KINDS][VECTORS];
static uint32_t LENGTH[KINDS];
static State STATE;

/* A line, character by character: 'o' offset digit, 'h' hex digit, 't' text, else itself. */
static const char *const LAYOUT[KINDS] = {
  "oooooooo  hh hh hh hh hh hh hh hh  hh hh hh hh hh hh hh hh  |tttttttttttttttt|\n",
  "oooooooooo: hh hh hh hh hh hh hh hh  hh hh hh hh hh hh hh hh |tttttttttttttttt|\n",
};

__attribute__((export_name("state_ptr"))) State *state_ptr(void) { return &STATE; }

/* Memory from here on is the caller's (kernel.ts hands it out). */
extern unsigned char __heap_base;
__attribute__((export_name("heap_base"))) uintptr_t heap_base(void) { return (uintptr_t)&__heap_base; }

__attribute__((export_name("init"))) void init(void) {
  for (int k = 0; k < KINDS; k++) {
    uint8_t lo[80], hi[80], text[80], off[80], fixed[80];
    const char *l = LAYOUT[k];
    int n = 0, digits = 0, hex = 0, t = 0;
    while (l[digits] == 'o') digits++;
    for (; l[n]; n++) {
      char c = l[n];
      lo[n] = hi[n] = text[n] = off[n] = 0x80;
      fixed[n] = 0;
      if (c == 'o') off[n] = 16 - digits + n;
      else if (c == 'h') { if (hex < 16) lo[n] = hex; else hi[n] = hex - 16; hex++; }
      else if (c == 't') text[n] = t++;
      else fixed[n] = c;
    }
    LENGTH[k] = n;
    for (; n < 80; n++) { lo[n] = hi[n] = text[n] = off[n] = 0x80; fixed[n] = 0; }
    for (int v = 0; v < VECTORS; v++) {
      IDX_LO[k][v] = wasm_v128_load(lo + 16 * v);
      IDX_HI[k][v] = wasm_v128_load(hi + 16 * v);
      IDX_TEXT[k][v] = wasm_v128_load(text + 16 * v);
      IDX_OFF[k][v] = wasm_v128_load(off + 16 * v);
      FIXED[k][v] = wasm_v128_load(fixed + 16 * v);
    }
  }
}

static inline v128_t hex_of_nibbles(v128_t nibbles) {
  return wasm_i8x16_swizzle(wasm_i8x16_const(48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102), nibbles);
}

/* Format one line of bytes v at offset off into out; return its length. */
static inline uint32_t line(int k, v128_t v, uint64_t off, uint8_t *out) {
  const v128_t mask = wasm_i8x16_splat(15);
  v128_t hi4 = hex_of_nibbles(wasm_v128_and(wasm_u8x16_shr(v, 4), mask));
  v128_t lo4 = hex_of_nibbles(wasm_v128_and(v, mask));
  /* The 32 hex digits in order: two per byte. */
  v128_t d0 = wasm_i8x16_shuffle(hi4, lo4, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  v128_t d1 = wasm_i8x16_shuffle(hi4, lo4, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  /* Printable ASCII as itself, the rest as ".". */
  v128_t printable = wasm_v128_and(wasm_u8x16_ge(v, wasm_i8x16_splat(0x20)), wasm_u8x16_lt(v, wasm_i8x16_splat(0x7f)));
  v128_t text = wasm_v128_bitselect(v, wasm_i8x16_splat('.'), printable);
  /* The offset's 16 hex digits (the layout takes the last 8 or 10). */
  v128_t o = wasm_i8x16_swizzle(wasm_u64x2_make(off, 0), wasm_i8x16_const(7, 6, 5, 4, 3, 2, 1, 0, 16, 16, 16, 16, 16, 16, 16, 16));
  v128_t ohi = hex_of_nibbles(wasm_v128_and(wasm_u8x16_shr(o, 4), mask));
  v128_t olo = hex_of_nibbles(wasm_v128_and(o, mask));
  v128_t digits = wasm_i8x16_shuffle(ohi, olo, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  for (int i = 0; i < VECTORS; i++) {
    v128_t r = wasm_v128_or(wasm_i8x16_swizzle(d0, IDX_LO[k][i]), wasm_i8x16_swizzle(d1, IDX_HI[k][i]));
    r = wasm_v128_or(r, wasm_i8x16_swizzle(text, IDX_TEXT[k][i]));
    r = wasm_v128_or(r, wasm_i8x16_swizzle(digits, IDX_OFF[k][i]));
    wasm_v128_store(out + 16 * i, wasm_v128_or(r, FIXED[k][i]));
  }
  return LENGTH[k];
}

/* Squeeze or format n lines from in to out, from and to STATE; return the bytes written. Writes
 * up to 16 bytes past the last line. */
__attribute__((export_name("run"))) uint32_t run(uint32_t k, const uint8_t *in, uint32_t n, uint8_t *out) {
  State *st = &STATE;
  uint8_t *o = out;
  v128_t prev = wasm_v128_load(st->prev);
  for (uint32_t i = 0; i < n; i++, in += 16) {
    v128_t v = wasm_v128_load(in);
    if (st->has_prev && st->squeezable > 0 && wasm_i8x16_all_true(wasm_i8x16_eq(v, prev))) {
      if (!st->starred) {
        o[0] = '*';
        o[1] = '\n';
        o += 2;
        st->starred = 1;
      }
    } else {
      o += line(k, v, st->offset, o);
      st->has_prev = 1;
      st->starred = 0;
    }
    prev = v;
    st->offset += 16;
    if (st->squeezable > 0) st->squeezable--;
  }
  wasm_v128_store(st->prev, prev);
  return o - out;
}
