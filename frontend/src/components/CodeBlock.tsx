import hljs from "highlight.js/lib/core";
import python from "highlight.js/lib/languages/python";
import { useMemo } from "react";

hljs.registerLanguage("python", python);

export function CodeBlock({ code, language = "python", label }: { code: string; language?: "python" | "text"; label?: string }) {
  const html = useMemo(
    () => (language === "python" ? hljs.highlight(code, { language: "python", ignoreIllegals: true }).value : null),
    [code, language],
  );
  return (
    <pre className="code" aria-label={label} tabIndex={0}>
      {html !== null ? <code className="hljs language-python" dangerouslySetInnerHTML={{ __html: html }} /> : <code>{code}</code>}
    </pre>
  );
}
