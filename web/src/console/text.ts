// Stored text as the console shows it: highlights given as UTF-8 byte
// ranges, dates in Vietnam time. Everything is rendered through lit's text
// bindings, never as HTML.
import { html, type TemplateResult } from 'lit';

interface Range {
  start: number;
  end: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `text` with the byte ranges `ranges` marked. */
export function highlighted(text: string, ranges: readonly Range[]): TemplateResult {
  const bytes = encoder.encode(text);
  const parts: (string | TemplateResult)[] = [];
  let at = 0;
  for (const { start, end } of [...ranges].sort((a, b) => a.start - b.start)) {
    if (start < at || end > bytes.length || end <= start) continue;
    parts.push(decoder.decode(bytes.subarray(at, start)));
    parts.push(html`<mark>${decoder.decode(bytes.subarray(start, end))}</mark>`);
    at = end;
  }
  parts.push(decoder.decode(bytes.subarray(at)));
  return html`${parts}`;
}

const vietnam = new Intl.DateTimeFormat('vi-VN', {
  timeZone: 'Asia/Ho_Chi_Minh',
  dateStyle: 'medium',
  timeStyle: 'short',
});

/** A time in Vietnam (UTC+07:00), as people there read it. */
export function vietnamTime(date: Date | undefined): string {
  return date ? `${vietnam.format(date)} (UTC+07:00)` : '';
}

/** Seconds as m:ss. */
export function clock(seconds: number): string {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

/** A byte count for people. */
export function bytes(count: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
