/**
 * JSON text as Go's encoding/json writes it, for `--format json` / `{{json .}}` output that
 * matches docker's byte for byte. Differences from JSON.stringify that matter here: Go sorts map
 * keys, writes \u2028 and \u2029 escaped, and (json.Marshal, unlike an Encoder with
 * SetEscapeHTML(false)) escapes <, > and & as \u003c, \u003e, \u0026. Pure.
 */

const HEX = '0123456789abcdef';

/** A Go JSON string literal. `escapeHTML` is true for json.Marshal, false for docker's {{json}} of a plain value. */
export function goJsonString(value: string, escapeHTML: boolean): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const ch = value[i]!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20) out += '\\u00' + HEX[code >> 4] + HEX[code & 0xf];
    else if (escapeHTML && (ch === '<' || ch === '>' || ch === '&')) out += '\\u00' + HEX[code >> 4] + HEX[code & 0xf];
    else if (code === 0x2028 || code === 0x2029) out += '\\u202' + HEX[code & 0xf];
    else if (code >= 0xd800 && code <= 0xdfff) {
      // A surrogate pair is one valid code point; a lone surrogate is invalid UTF-8 to Go,
      // which replaces it with U+FFFD.
      const next = value.charCodeAt(i + 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        out += ch + value[i + 1];
        i++;
      } else {
        out += '\\ufffd';
      }
    } else out += ch;
  }
  return out + '"';
}

/**
 * A Go map[string]string marshalled by json.Marshal: keys sorted bytewise, HTML escaped.
 * This is what docker's formatter.MarshalJSON produces for a row of a listing.
 */
export function goJsonStringMap(entries: Record<string, string>, escapeHTML = true): string {
  const keys = Object.keys(entries).sort(compareBytewise);
  return '{' + keys.map((k) => goJsonString(k, escapeHTML) + ':' + goJsonString(entries[k]!, escapeHTML)).join(',') + '}';
}

/** Like goJsonStringMap, with some values given as JSON text already (a nil pointer's null). */
export function goJsonMixedMap(strings: Record<string, string>, raw: Record<string, string>, escapeHTML = true): string {
  const keys = [...Object.keys(strings), ...Object.keys(raw)].sort(compareBytewise);
  return '{' + keys.map((k) => goJsonString(k, escapeHTML) + ':' + (k in raw ? raw[k]! : goJsonString(strings[k]!, escapeHTML))).join(',') + '}';
}

/** Go's string ordering (bytewise on UTF-8, which for these ASCII keys is code-unit order). */
export function compareBytewise(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
