// How an agent's usage report reads: tokens and cost (the header, sidebar rows).

import type { Cost } from "../protocol";

/** `$0.0123`: small amounts keep enough digits to move turn by turn. */
export function formatCost(cost: Cost): string {
  const digits = Math.abs(cost.amount) < 1 ? 4 : 2;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: cost.currency, minimumFractionDigits: digits, maximumFractionDigits: digits }).format(cost.amount);
  } catch {
    // Not an ISO 4217 code Intl knows: the number and the agent's word for it.
    return `${cost.amount.toFixed(digits)} ${cost.currency}`;
  }
}

/** `950`, `12k`, `1.2M`. */
export function formatTokens(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${Math.round(n / 1000)}k`;
  return String(n);
}
