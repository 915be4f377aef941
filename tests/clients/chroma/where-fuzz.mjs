// Usage: node where-fuzz.mjs CHROMA_URL SEED CASES
// Builds a random collection (mixed metadata types, missing keys, null documents) over raw HTTP and runs CASES random
// where / where_document filters (Chroma's grammar) through /get, printing
// {"records": [...], "cases": [{"where", "where_document", "status", "ids"}]} — ids sorted, status the HTTP status.
// Raw fetch, not the client: the client's own validation would hide what the server does with a filter.
const [base, seedText, casesText] = process.argv.slice(2);
let seed = Number(seedText) >>> 0;
const rand = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; };
const pick = xs => xs[Math.floor(rand() * xs.length)];
const api = `${base}/api/v2/tenants/default_tenant/databases/default_database`;

async function call(method, path, body) {
  const r = await fetch(`${api}${path}`, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text.length ? JSON.parse(text) : null };
}

const words = ["alpha", "beta", "gamma", "delta", "Alpha", "omega", "beta-2", "x"];
const strs = ["x", "y", "z", "X", ""];
function value(key) {
  switch (key) {
    case "a": return pick([0, 1, 2, 3, 4, 5, -1]);
    case "b": return pick([0.5, 1.5, 2.5, 0.25, -0.5]);
    case "c": return pick(strs);
    case "d": return pick([true, false]);
    default: return pick([1, "1", true, 2, "one"]); // "e": mixed types across records
  }
}
const keys = ["a", "b", "c", "d", "e"];
const records = [];
for (let i = 0; i < 60; i++) {
  const metadata = {};
  for (const k of keys) if (rand() < 0.75) metadata[k] = value(k);
  const nWords = Math.floor(rand() * 4);
  const doc = rand() < 0.15 ? null : Array.from({ length: nWords + 1 }, () => pick(words)).join(" ");
  records.push({ id: `r${String(i).padStart(2, "0")}`, document: doc, metadata: Object.keys(metadata).length ? metadata : null, embedding: [rand(), rand()] });
}

// Chroma 1.0 truncates a fractional filter value compared with integer metadata ({"a": {"$gte": 2.5}} matches a = 2;
// tests/fixtures/chroma/where-quirks.json): membed compares exactly, so fractions only meet the float key "b".
const fix = (key, v) => (key !== "b" && typeof v === "number") ? Math.round(v) : v;
function scalarFor(key) { return fix(key, rand() < 0.15 ? value(pick(keys)) : value(key)); }
function where(depth) {
  const r = rand();
  if (depth < 2 && r < 0.25) {
    const n = 2 + Math.floor(rand() * 2);
    return { [pick(["$and", "$or"])]: Array.from({ length: n }, () => where(depth + 1)) };
  }
  const key = pick(keys);
  const op = pick(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "bare"]);
  if (op === "bare") return { [key]: scalarFor(key) };
  if (op === "$in" || op === "$nin") {
    const v = scalarFor(key);
    const same = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => value(key)).filter(x => typeof x === typeof v);
    return { [key]: { [op]: [v, ...same] } };
  }
  if (op.startsWith("$g") || op.startsWith("$l")) return { [key]: { [op]: fix(key, pick([0, 1, 2, 2.5, -1, 0.5])) } };
  return { [key]: { [op]: scalarFor(key) } };
}
function whereDocument(depth) {
  if (depth < 1 && rand() < 0.3) return { [pick(["$and", "$or"])]: [whereDocument(depth + 1), whereDocument(depth + 1)] };
  return { [pick(["$contains", "$not_contains"])]: pick(["alpha", "beta", "a", "Alpha", "-2", "gamma delta", "zzz"]) };
}

const created = await call("POST", "/collections", { name: `fuzz-${seedText}`, get_or_create: false });
if (created.status !== 200) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
const id = created.body.id;
const add = await call("POST", `/collections/${id}/add`, {
  ids: records.map(r => r.id), embeddings: records.map(r => r.embedding),
  documents: records.map(r => r.document), metadatas: records.map(r => r.metadata),
});
if (add.status !== 201) throw new Error(`add: ${add.status} ${JSON.stringify(add.body)}`);

const cases = [];
for (let i = 0; i < Number(casesText); i++) {
  const c = {};
  const r = rand();
  if (r < 0.7) c.where = where(0);
  if (r >= 0.55) c.where_document = whereDocument(0);
  const got = await call("POST", `/collections/${id}/get`, { ...c, include: [] });
  cases.push({ ...c, status: got.status, ids: got.status === 200 ? [...got.body.ids].sort() : null });
}
await call("DELETE", `/collections/fuzz-${seedText}`);
process.stdout.write(JSON.stringify({ records, cases }));
