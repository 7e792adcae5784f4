// Which bytes of a read the server has answered, so overlapping or missing chunks are caught
// ("Structured reply chunk message": chunks of one reply MUST NOT overlap and a successful read
// MUST cover the whole request).

export class Coverage {
  /** Sorted, disjoint, non-adjacent [start, end) pairs, flattened. */
  #iv: number[] = [];
  #total = 0;

  /** Record [start, end). Returns false, recording nothing, if it overlaps what is already there. */
  add(start: number, end: number): boolean {
    const iv = this.#iv;
    // Fast path: chunks usually arrive in order.
    const n = iv.length;
    if (n === 0 || start >= iv[n - 1]!) {
      if (n > 0 && start === iv[n - 1]) iv[n - 1] = end;
      else iv.push(start, end);
      this.#total += end - start;
      return true;
    }
    // Find the first interval ending after start.
    let lo = 0, hi = n / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (iv[mid * 2 + 1]! <= start) lo = mid + 1;
      else hi = mid;
    }
    const i = lo * 2;
    if (i < n && iv[i]! < end) return false;
    // Merge with neighbours that touch.
    const joinLeft = i > 0 && iv[i - 1] === start;
    const joinRight = i < n && iv[i] === end;
    if (joinLeft && joinRight) iv.splice(i - 1, 2);
    else if (joinLeft) iv[i - 1] = end;
    else if (joinRight) iv[i] = start;
    else iv.splice(i, 0, start, end);
    this.#total += end - start;
    return true;
  }

  get total(): number {
    return this.#total;
  }
}
