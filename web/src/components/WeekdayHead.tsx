import * as format from "../i18n/format";

/** A month table's header row: the weekdays' short names, Monday first. */
export function WeekdayHead() {
  return (
    <thead>
      <tr>
        {format.weekdays().map((name) => (
          <th key={name} scope="col">
            {name}
          </th>
        ))}
      </tr>
    </thead>
  );
}
