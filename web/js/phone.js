// Phone number input: a country (calling code) plus a national number, turned into E.164 in the
// browser. The API still validates the result; its error lands next to the field (pointer).

import { field, h } from "./dom.js";

/** [ISO code, name, calling code, trunk prefix dropped before the national number, example]
 * (examples are fictional or documentation-range numbers). */
export const COUNTRIES = [
  ["US", "United States", "1", "", "+1 201 555 0123"],
  ["CA", "Canada", "1", "", "+1 506 234 5678"],
  ["GB", "United Kingdom", "44", "0", "+44 20 7946 0958"],
  ["IE", "Ireland", "353", "0", "+353 85 012 3456"],
  ["DE", "Germany", "49", "0", "+49 30 123456"],
  ["FR", "France", "33", "0", "+33 1 23 45 67 89"],
  ["ES", "Spain", "34", "", "+34 612 34 56 78"],
  ["IT", "Italy", "39", "", "+39 312 345 6789"],
  ["NL", "Netherlands", "31", "0", "+31 6 12345678"],
  ["BE", "Belgium", "32", "0", "+32 470 12 34 56"],
  ["CH", "Switzerland", "41", "0", "+41 78 123 45 67"],
  ["AT", "Austria", "43", "0", "+43 664 123456"],
  ["SE", "Sweden", "46", "0", "+46 70 123 45 67"],
  ["NO", "Norway", "47", "", "+47 406 12 345"],
  ["DK", "Denmark", "45", "", "+45 32 12 34 56"],
  ["PL", "Poland", "48", "", "+48 512 345 678"],
  ["PT", "Portugal", "351", "", "+351 912 345 678"],
  ["AU", "Australia", "61", "0", "+61 412 345 678"],
  ["NZ", "New Zealand", "64", "0", "+64 21 123 4567"],
  ["IN", "India", "91", "0", "+91 81234 56789"],
  ["JP", "Japan", "81", "0", "+81 90 1234 5678"],
  ["SG", "Singapore", "65", "", "+65 8123 4567"],
  ["ZA", "South Africa", "27", "0", "+27 71 123 4567"],
  ["BR", "Brazil", "55", "0", "+55 11 96123 4567"],
  ["MX", "Mexico", "52", "", "+52 55 1234 5678"],
];

/** The "type the whole number" choice. */
export const OTHER = "intl";

const E164 = /^\+[1-9]\d{1,14}$/;
export const isE164 = (value) => E164.test(value);

/** "+44 20 7946 0958" style hint for a country code. */
export function exampleFor(iso) {
  const c = COUNTRIES.find(([code]) => code === iso);
  return c ? c[4] : "+44 20 7946 0958";
}

/**
 * E.164 from a country and what the user typed. Spaces, dots, dashes and brackets go; a leading
 * "+" or "00" means the whole number was typed; the country's trunk prefix ("0") is dropped.
 * Anything else (letters, too many digits) is passed on as typed so the API names the problem.
 */
export function toE164(iso, typed) {
  const raw = String(typed || "").trim();
  if (!raw) return "";
  const compact = raw.replace(/[\s.\-()/]/g, "");
  if (compact.startsWith("+")) return compact;
  if (compact.startsWith("00")) return `+${compact.slice(2)}`;
  const c = COUNTRIES.find(([code]) => code === iso);
  if (!c) return compact.startsWith("+") ? compact : `+${compact}`;
  const [, , cc, trunk] = c;
  let national = compact;
  if (trunk && national.startsWith(trunk)) national = national.slice(trunk.length);
  else if (cc === "1" && national.length === 11 && national.startsWith("1")) national = national.slice(1);
  return `+${cc}${national}`;
}

/** Split a stored E.164 number back into [country, national digits] for editing. */
export function fromE164(e164, preferred = "US") {
  const digits = String(e164 || "").replace(/^\+/, "");
  let best = null;
  for (const c of COUNTRIES) {
    const cc = c[2];
    if (digits.startsWith(cc) && (!best || cc.length > best[2].length || (cc === best[2] && c[0] === preferred))) best = c;
  }
  if (!best) return [OTHER, e164 || ""];
  return [best[0], digits.slice(best[2].length)];
}

/** The country the browser's language suggests, or the US. */
export function defaultCountry() {
  const region = (navigator.language || "").split("-")[1];
  return COUNTRIES.some(([code]) => code === region) ? region : "US";
}

const countryOptions = () => [
  ...COUNTRIES.map(([code, name, cc]) => [code, `${name} (+${cc})`]),
  [OTHER, "Other (type the full number with +)"],
];

/**
 * A country select and a number input, with a hint that shows the E.164 result as you type.
 * `pointer` goes on the number field (the API's error pointer for this number). Returns
 * {el, value(): E.164 or "", number: <input>, country: <select>}.
 */
export function phoneInput(label, name, { pointer, value = "", country, removable = null } = {}) {
  const [iso, national] = value ? fromE164(value, country || defaultCountry()) : [country || defaultCountry(), ""];
  const countryField = field(`${label}: country`, `${name}-country`, {
    type: "select",
    value: iso,
    options: countryOptions(),
    pointer: `${pointer}#country`,
  });
  const numberField = field(label, name, {
    type: "tel",
    value: national,
    autocomplete: "tel-national",
    pointer,
    hint: `For example ${exampleFor(iso)}.`,
  });
  const select = countryField.querySelector("select");
  const input = numberField.querySelector("input");
  const hint = numberField.querySelector(".hint");
  const value_ = () => toE164(select.value, input.value);
  const update = () => {
    const got = value_();
    const example = `For example ${exampleFor(select.value === OTHER ? "GB" : select.value)}.`;
    hint.textContent = got ? `${example} Saved as ${got}.` : example;
  };
  select.addEventListener("change", update);
  input.addEventListener("input", update);
  update();
  const el = h("div", { class: "phone-input" }, countryField, numberField, removable);
  return { el, value: value_, number: input, country: select };
}
