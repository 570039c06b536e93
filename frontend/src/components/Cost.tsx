import { costLabel } from "../lib/format";

/** A cost in USD, or "unknown" (with what is known in its tooltip) when a model without a price took part. */
export function Cost({ usd, known }: { usd: number; known: boolean | undefined }) {
  const label = costLabel(usd, known);
  if (!label.title) return <>{label.text}</>;
  return (
    <span className="cost-unknown" title={label.title}>
      {label.text}
      <span className="visually-hidden">. {label.title}</span>
    </span>
  );
}
