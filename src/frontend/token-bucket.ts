// What one session may send (issue 11): a token bucket for bytes and one for
// stanzas, refilled at the configured rates and holding `burst_seconds` of
// them. A session charges what it read and, when it is in debt, stops reading
// for as long as the debt takes to refill: excess input is delayed, never
// dropped, and TCP pushes back on the sender meanwhile.

import type { Config } from '../config/schema.js';

export type RateSettings = Config['client']['rate']['authenticated'];

export class TokenBucket {
  private bytes: number;
  private stanzas: number;
  private refilledAt = Date.now();

  constructor(private readonly rate: RateSettings) {
    this.bytes = rate.bytes_per_second * rate.burst_seconds;
    this.stanzas = rate.stanzas_per_second * rate.burst_seconds;
  }

  /** Charges what was read; returns how many milliseconds reading must wait (0: none). */
  charge(bytes: number, stanzas: number): number {
    const { bytes_per_second: byteRate, stanzas_per_second: stanzaRate, burst_seconds: burst } = this.rate;
    const now = Date.now();
    const elapsed = (now - this.refilledAt) / 1000;
    this.refilledAt = now;
    let wait = 0;
    if (byteRate > 0) {
      this.bytes = Math.min(this.bytes + elapsed * byteRate, byteRate * burst) - bytes;
      if (this.bytes < 0) wait = (-this.bytes / byteRate) * 1000;
    }
    if (stanzaRate > 0) {
      this.stanzas = Math.min(this.stanzas + elapsed * stanzaRate, stanzaRate * burst) - stanzas;
      if (this.stanzas < 0) wait = Math.max(wait, (-this.stanzas / stanzaRate) * 1000);
    }
    return Math.ceil(wait);
  }
}
