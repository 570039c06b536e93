export function List({ rows, tags }: { rows: string[]; tags: string[] }) {
  return (
    <ul>
      {rows.map((row) => (
        <li key={row}>{tags.includes(row) ? "tagged" : row}</li> // expect: list-membership-in-loop
      ))}
    </ul>
  );
}
