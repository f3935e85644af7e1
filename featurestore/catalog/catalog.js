// The catalog's instant search: ranks the embedded items by featurestore.catalog.model.score,
// the same rule (a test compares the two on random queries). No library, no network.
(function () {
  const items = JSON.parse(document.getElementById("items").textContent);
  const box = document.getElementById("q");
  const out = document.getElementById("results");

  function score(item, words) {
    const name = item.name.toLowerCase();
    const parts = name.split(":");
    const short = parts[parts.length - 1];
    const tags = [];
    for (const [key, value] of Object.entries(item.tags)) { tags.push(key.toLowerCase(), value.toLowerCase()); }
    const owner = item.owner.toLowerCase(), type = item.type.toLowerCase();
    const description = item.description.toLowerCase();
    let total = 0;
    for (const word of words) {
      let best;
      if (name === word) best = 100;
      else if (short === word) best = 90;
      else if (name.startsWith(word) || short.startsWith(word)) best = 60;
      else if (name.includes(word)) best = 40;
      else if (tags.includes(word) || word === owner || word === type) best = 30;
      else if (description.includes(word)) best = 10;
      else if (tags.some((t) => t.includes(word)) || owner.includes(word) || type.includes(word)) best = 5;
      else return 0;
      total += best;
    }
    return total;
  }

  function byRank(a, b) {
    if (a[0] !== b[0]) return b[0] - a[0];
    if (a[1].name.length !== b[1].name.length) return a[1].name.length - b[1].name.length;
    return a[1].name < b[1].name ? -1 : a[1].name > b[1].name ? 1 : 0;
  }

  function search(query, limit) {
    const words = query.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
    if (words.length === 0) return [];
    const scored = [];
    for (const item of items) {
      const s = score(item, words);
      if (s > 0) scored.push([s, item]);
    }
    scored.sort(byRank);
    return scored.slice(0, limit).map((pair) => pair[1]);
  }
  window.catalogSearch = search;

  function show() {
    out.textContent = "";
    const found = search(box.value, 50);
    if (box.value.trim() && found.length === 0) {
      out.textContent = "Nothing matches.";
      return;
    }
    const list = document.createElement("ol");
    list.className = "results";
    for (const item of found) {
      const entry = document.createElement("li");
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = item.kind;
      const link = document.createElement("a");
      link.href = item.page;
      link.textContent = item.name;
      entry.append(kind, link);
      if (item.type) entry.append(" ", Object.assign(document.createElement("code"), {textContent: item.type}));
      if (item.description) entry.append(" \u2014 " + item.description);
      list.append(entry);
    }
    out.append(list);
  }
  box.addEventListener("input", show);
  if (box.value) show();
})();
