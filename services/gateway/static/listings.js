// Listings on the web page: the file a user attaches beside the photos, and a photo's
// listing beside what the photo shows. Uses el() from app.js (loaded first).
"use strict";

const MAX_LISTINGS_BYTES = 2 ** 20; // the API's limit on the listings field

// The attached file's text, sent as it is: the API reads a CSV (a `file` column) or JSON
// and answers a 422 naming the row and field. Here, only what the API could not read at
// all: too large, empty, or not UTF-8 text (a spreadsheet's other encodings).
async function listingsText(file) {
  if (file.size > MAX_LISTINGS_BYTES) {
    throw new Error(`The listings file ${file.name} is too large: at most 1 MB.`);
  }
  const text = await file.text();
  if (!text.trim()) throw new Error(`The listings file ${file.name} is empty.`);
  if (text.includes("\uFFFD") || text.includes("\0")) {
    throw new Error(`The listings file ${file.name} is not a UTF-8 text file: save it as CSV (UTF-8) or JSON.`);
  }
  return text;
}

// A category's text may wrap after each "/" (shoes/<wbr>sneakers), not inside its words.
const breakable = (text) => String(text).split(/(?<=\/)/).flatMap((part, i) => (i ? [el("wbr"), part] : [part]));

// The checks' fields, as a user reads them.
const CHECKED = { category: "category", garment: "garment worn", colour: "colour", text: "printed text" };

// What the listing says beside what the photo shows, one row per check; the verdicts in
// words (colour only repeats them). A product the listing filed under its category says so.
function listingPanel(result, items, photoName) {
  const listed = Object.entries(result.listing || {}).filter(([, v]) => v);
  const rows = (result.checks || []).map((c) => {
    const item = typeof c.item === "number" ? items[c.item] : null;
    const on = item ? (item.garment || (item.type === "product" ? `product ${c.item + 1}` : item.type)) : null;
    const seen = c.seen || "nothing";
    return el("tr", { class: `check ${c.verdict}`, dataset: { field: c.field, verdict: c.verdict } },
      el("th", { scope: "row", text: CHECKED[c.field] || c.field },
        on ? el("span", { class: "hint", text: ` (${on})` }) : null),
      el("td", { class: "listed" }, breakable(c.listed)),
      el("td", { class: "seen", title: typeof c.score === "number" ? `score ${c.score.toFixed(2)}` : null }, breakable(seen)),
      el("td", { class: "verdict" }, el("span", { class: `badge ${c.verdict}`, text: c.verdict }),
        c.filed ? el("span", { class: "filed", text: ` filed under ${c.filed} from the listing` }) : null));
  });
  return el("section", { class: "listing", "aria-label": `Listing of ${photoName}` },
    el("p", { class: "listing-head" }, el("strong", { text: "Listing" }), " ",
      el("span", { class: `badge ${result.verdict}`, text: result.verdict, "aria-label": `listing ${result.verdict}` })),
    listed.length ? el("p", { class: "hint listing-fields", text: listed.map(([k, v]) => `${k}: ${v}`).join(" · ") }) : null,
    rows.length
      ? el("table", { class: "checks" },
        el("caption", { class: "visually-hidden", text: `Listed beside seen for ${photoName}` }),
        el("thead", {}, el("tr", {}, ["Field", "Listed", "Seen", "Verdict"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, rows))
      : el("p", { class: "hint", text: "Nothing in the listing could be checked against this photo." }));
}
