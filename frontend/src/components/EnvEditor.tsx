import type { EnvType, EnvVar } from "../api/types";

export interface EnvRow {
  key: string;
  name: string;
  type: EnvType;
  value: string;
}

const NAME = /^[A-Z_][A-Z0-9_]{0,63}$/;
const RESERVED = /^(PATH|HOME|PWD|SHELL|USER|TMPDIR|LANG|LC_.*|LD_.*|PYTHON.*|AWS_.*|MPL.*|AGENTLAB_.*)$/;

/** The typed value of a row, or why it is not one (the server checks the same rules). */
export function parseEnvRow(row: EnvRow): { value?: EnvVar; error?: string } {
  if (!NAME.test(row.name)) return { error: `${row.name || "A name"}: use capital letters, digits and _ (not starting with a digit).` };
  if (RESERVED.test(row.name)) return { error: `${row.name} is reserved by the platform.` };
  const text = row.value;
  switch (row.type) {
    case "str":
      return { value: { type: "str", value: text } };
    case "int":
      return /^-?\d+$/.test(text.trim()) && Number.isSafeInteger(Number(text))
        ? { value: { type: "int", value: Number(text) } }
        : { error: `${row.name} must be a whole number.` };
    case "float": {
      const number = Number(text);
      return text.trim() !== "" && Number.isFinite(number)
        ? { value: { type: "float", value: number } }
        : { error: `${row.name} must be a finite number.` };
    }
    case "bool":
      return text === "true" || text === "false"
        ? { value: { type: "bool", value: text === "true" } }
        : { error: `${row.name} must be true or false.` };
    case "json":
      try {
        return { value: { type: "json", value: JSON.parse(text) } };
      } catch {
        return { error: `${row.name} is not valid JSON.` };
      }
  }
}

export function EnvEditor({ rows, onChange }: { rows: EnvRow[]; onChange: (rows: EnvRow[]) => void }) {
  const update = (key: string, patch: Partial<EnvRow>) => onChange(rows.map((row) => (row.key === key ? { ...row, ...patch } : row)));
  return (
    <fieldset className="env">
      <legend>Environment variables</legend>
      {rows.map((row, index) => {
        const { error } = parseEnvRow(row);
        const errorId = `env-error-${row.key}`;
        return (
          <div key={row.key} className="env-row">
            <label>
              Name
              <input
                value={row.name}
                onChange={(e) => update(row.key, { name: e.target.value.toUpperCase() })}
                aria-label={`Variable ${index + 1} name`}
                aria-describedby={error ? errorId : undefined}
                aria-invalid={Boolean(error)}
              />
            </label>
            <label>
              Type
              <select
                value={row.type}
                onChange={(e) => update(row.key, { type: e.target.value as EnvType, value: e.target.value === "bool" ? "true" : row.value })}
                aria-label={`Variable ${index + 1} type`}
              >
                <option value="str">text</option>
                <option value="int">integer</option>
                <option value="float">number</option>
                <option value="bool">true/false</option>
                <option value="json">JSON</option>
              </select>
            </label>
            <label>
              Value
              {row.type === "bool" ? (
                <select value={row.value} onChange={(e) => update(row.key, { value: e.target.value })} aria-label={`Variable ${index + 1} value`}>
                  <option value="true">true</option>
                  <option value="false">false</option>
                </select>
              ) : (
                <input
                  value={row.value}
                  inputMode={row.type === "int" || row.type === "float" ? "decimal" : undefined}
                  onChange={(e) => update(row.key, { value: e.target.value })}
                  aria-label={`Variable ${index + 1} value`}
                />
              )}
            </label>
            <button type="button" className="link" onClick={() => onChange(rows.filter((r) => r.key !== row.key))}>
              Remove
            </button>
            {error && (
              <p id={errorId} className="field-error">
                {error}
              </p>
            )}
          </div>
        );
      })}
      <button
        type="button"
        className="secondary"
        onClick={() => onChange([...rows, { key: Math.random().toString(36).slice(2), name: "", type: "str", value: "" }])}
      >
        Add a variable
      </button>
    </fieldset>
  );
}
