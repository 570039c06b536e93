def render_rows(rows: list[tuple[str, int]]) -> str:
    html = ""
    for label, value in rows:
        html += f"<tr><td>{label}</td><td>{value}</td></tr>\n"
    return "<table>\n" + html + "</table>"
