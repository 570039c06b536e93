def render(rows):
    html = ""
    for row in rows:
        html += "<tr>" + row + "</tr>"  # expect: string-concat-in-loop
    return html


class Report:
    def build(self, lines):
        for line in lines:
            self.text += f"{line}\n"  # expect: string-concat-in-loop


def total(values):
    count = 0
    for value in values:
        count += value
    return count


def joined(rows):
    return "".join(f"<tr>{row}</tr>" for row in rows)


def extend_list(chunks):
    parts = []
    for chunk in chunks:
        parts += chunk
    return parts
