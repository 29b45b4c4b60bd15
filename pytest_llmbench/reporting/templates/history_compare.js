"use strict";
// The history page's side-by-side comparison: two runs (or two variants of one run) of a
// scenario, per metric, paired by sample id. The statistics are Python's, step for step:
// two runs as results/statistics.py's paired_difference (what `llmbench compare B A`
// prints), two variants of one run as results/variants.py's difference (what the record's
// variants block and `llmbench compare RUN --variants a,b` say); the differences sorted
// and summed exactly (fsum), the t interval, and from 5 to 200 pairs the seeded bootstrap-t
// over Python's own generator (MT19937 seeded as random.Random(20251109), choices() as
// floor(random() * n)).
(function () {
  const SEED = 20251109, RESAMPLES = 999, T_MIN_N = 5, T_MAX_N = 200, NOTHING = "\u2014";

  // -- Python's random.Random(seed): MT19937, init_by_array([seed]) -----------------------
  function Mersenne(seed) {
    const mt = new Uint32Array(624);
    let index = 624;
    mt[0] = 19650218;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    const key = [seed >>> 0];
    let i = 1, j = 0;
    for (let k = Math.max(624, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++; j++;
      if (i >= 624) { mt[0] = mt[623]; i = 1; }
      if (j >= key.length) j = 0;
    }
    for (let k = 623; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= 624) { mt[0] = mt[623]; i = 1; }
    }
    mt[0] = 0x80000000;
    function next() {
      if (index >= 624) {
        for (let k = 0; k < 624; k++) {
          const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
          mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
        }
        index = 0;
      }
      let y = mt[index++];
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      return y >>> 0;
    }
    this.random = function () {  // genrand_res53
      const a = next() >>> 5, b = next() >>> 6;
      return (a * 67108864 + b) * (1 / 9007199254740992);
    };
  }

  // -- math.fsum: Shewchuk's exact partials, rounded once as CPython does ------------------
  function fsum(xs) {
    const partials = [];
    for (let x of xs) {
      let i = 0;
      for (let y of partials) {
        if (Math.abs(x) < Math.abs(y)) { const t = x; x = y; y = t; }
        const hi = x + y, lo = y - (hi - x);
        if (lo !== 0) partials[i++] = lo;
        x = hi;
      }
      partials.length = i;
      if (x !== 0) partials.push(x);
    }
    let n = partials.length, hi = 0;
    if (n > 0) {
      hi = partials[--n];
      let lo = 0;
      while (n > 0) {
        const x = hi, y = partials[--n];
        hi = x + y;
        lo = y - (hi - x);
        if (lo !== 0) break;
      }
      if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
        const y = lo * 2, x = hi + y;
        if (y === x - hi) hi = x;
      }
    }
    return hi;
  }

  // -- Student t quantile by bisection on the incomplete beta (statistics.t_quantile) -----
  function lgamma(x) {  // Lanczos (g = 7, n = 9), x > 0
    const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028,
      771.32342877765313, -176.61502916214059, 12.507343278686905,
      -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
    if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
    x -= 1;
    let a = c[0];
    const t = x + 7.5;
    for (let i = 1; i < 9; i++) a += c[i] / (x + i);
    return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
  }
  function betacf(a, b, x) {
    const tiny = 1e-300;
    let c = 1, d = 1 - (a + b) * x / (a + 1);
    d = 1 / (Math.abs(d) > tiny ? d : tiny);
    let h = d;
    for (let m = 1; m < 1000; m++) {
      for (const aa of [m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                        -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))]) {
        d = 1 + aa * d;
        d = 1 / (Math.abs(d) > tiny ? d : tiny);
        c = 1 + aa / c;
        c = Math.abs(c) > tiny ? c : tiny;
        h *= d * c;
      }
      if (Math.abs(d * c - 1) < 1e-15) break;
    }
    return h;
  }
  function betainc(a, b, x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    const front = Math.exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * Math.log(x) + b * Math.log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * betacf(a, b, x) / a;
    return 1 - front * betacf(b, a, 1 - x) / b;
  }
  const tCache = new Map();
  function tQuantile975(df) {
    if (tCache.has(df)) return tCache.get(df);
    const tail = 0.025, upper = (t) => 0.5 * betainc(df / 2, 0.5, df / (df + t * t));
    let lo = 0, hi = 1;
    while (upper(hi) > tail) { lo = hi; hi *= 2; }
    for (let k = 0; k < 200; k++) {
      const mid = (lo + hi) / 2;
      if (mid === lo || mid === hi) break;
      if (upper(mid) > tail) lo = mid; else hi = mid;
    }
    tCache.set(df, (lo + hi) / 2);
    return tCache.get(df);
  }

  // -- statistics.summarize(diffs, "mean", bounds) and paired_difference -----------------
  function meanSummary(xs, bounds) {  // xs sorted, n >= 2
    const n = xs.length;
    if (xs[0] === xs[n - 1]) return { mean: xs[0], ci: [xs[0], xs[0]] };
    const mean = Math.min(Math.max(fsum(xs) / n, xs[0]), xs[n - 1]);
    const se = Math.sqrt(fsum(xs.map((x) => (x - mean) * (x - mean))) / (n - 1)) / Math.sqrt(n);
    const half = tQuantile975(n - 1) * se;
    let lo = mean - half, hi = mean + half;
    if (T_MIN_N <= n && n <= T_MAX_N && se * se / (2 * n * n) > 0) {
      const rng = new Mersenne(SEED), floor = se * se / (2 * n * n), studentized = [];
      for (let r = 0; r < RESAMPLES; r++) {
        const draw = new Array(n);
        for (let k = 0; k < n; k++) draw[k] = xs[Math.floor(rng.random() * n)];
        const m = fsum(draw) / n;
        const v = fsum(draw.map((x) => (x - m) * (x - m))) / (n - 1) / n + floor;
        studentized.push((m - mean) / Math.sqrt(v));
      }
      studentized.sort((a, b) => a - b);
      const rank = Math.round(0.025 * (RESAMPLES + 1));
      lo = Math.min(lo, mean - studentized[RESAMPLES - rank] * se);
      hi = Math.max(hi, mean - studentized[rank - 1] * se);
    }
    if (bounds) {
      lo = Math.min(Math.max(lo, bounds[0]), mean);
      hi = Math.max(Math.min(hi, bounds[1]), mean);
    }
    return { mean, ci: [lo, hi] };
  }
  function pairedDifference(current, baseline, bounds) {
    const keys = Object.keys(current).filter((k) => k in baseline).sort();
    const diffs = keys.map((k) => current[k] - baseline[k]).sort((a, b) => a - b);
    const n = diffs.length;
    const diffBounds = bounds ? [bounds[0] - bounds[1], bounds[1] - bounds[0]] : null;
    if (n === 0) return { n, mean: null, ci: null, keys };
    if (n === 1) return { n, mean: diffs[0], ci: null, keys };
    const s = meanSummary(diffs, diffBounds);
    return { n, mean: s.mean, ci: s.ci, keys };
  }
  // variants.difference: exactly antisymmetric, so computed on whichever of the sorted
  // differences and their sorted negation is smaller as a list; no clipping.
  function variantDifference(current, reference) {
    const keys = Object.keys(current).filter((k) => k in reference).sort();
    const diffs = keys.map((k) => current[k] - reference[k]).sort((a, b) => a - b);
    const negated = diffs.map((d) => -d).sort((a, b) => a - b);
    let flip = false, selfNegated = true;
    for (let i = 0; i < diffs.length; i++) {
      if (negated[i] !== diffs[i]) { flip = negated[i] < diffs[i]; selfNegated = false; break; }
    }
    const used = flip ? negated : diffs, sign = flip ? -1 : 1, n = used.length;
    const clean = (v) => (v === 0 ? 0 : v);
    if (n === 0) return { n, mean: null, ci: null, keys };
    if (n === 1) return { n, mean: clean(sign * used[0]), ci: null, keys };
    const s = meanSummary(used, null);
    let ci = [clean(sign * s.ci[0]), clean(sign * s.ci[1])].sort((a, b) => a - b);
    if (selfNegated) {  // the same differences either way: the symmetric interval holding it
      const wide = Math.max(-ci[0], ci[1]);
      ci = [clean(-wide), clean(wide)];
    }
    return { n, mean: clean(sign * s.mean), ci, keys };
  }

  // -- number_format: Python's f"{x:.3f}" (round half to even), no negative zero ----------
  function fixed(x, digits) {
    let text = Math.abs(x).toFixed(digits);  // a tie rounds up here, to even in Python
    const scaled = Math.abs(x) * 2 ** (digits + 1);
    if (Number.isInteger(scaled) && scaled % 2 === 1 && Number(text.slice(-1)) % 2 === 1) {
      const units = (BigInt(text.replace(".", "")) - 1n).toString().padStart(digits + 1, "0");
      text = digits ? units.slice(0, -digits) + "." + units.slice(-digits) : units;
    }
    return x < 0 && /[1-9]/.test(text) ? "-" + text : text;
  }
  const number = (x) => (x === null ? NOTHING : fixed(x, 3));
  const signed = (x) => { const t = number(x); return t === NOTHING || t[0] === "-" ? t : "+" + t; };
  const interval = (ci) => (ci ? number(ci[0]) + " \u2013 " + number(ci[1]) : NOTHING);
  function status(ci, better) {
    if (!ci || (ci[0] <= 0 && ci[1] >= 0)) return "no detectable difference";
    return (ci[0] > 0) === (better === "higher") ? "better" : "worse";
  }
  function meanOf(values) { return values.length ? fsum(values) / values.length : null; }

  // -- the page ---------------------------------------------------------------------------
  const data = JSON.parse(document.getElementById("llmbench-scores").textContent);
  function scoresOf(option, metric) {
    const out = {}, values = option.scores[metric] || [];
    option.ids.forEach((id, i) => { if (values[i] !== null && values[i] !== undefined) out[id] = values[i]; });
    return out;
  }
  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }
  function render(section, scenario) {
    const a = scenario.options[section.querySelector("select.pick-a").value];
    const b = scenario.options[section.querySelector("select.pick-b").value];
    const body = section.querySelector("tbody");
    body.replaceChildren();
    section.querySelector("th.side-a").textContent = "A: " + a.label;
    section.querySelector("th.side-b").textContent = "B: " + b.label;
    for (const metric of scenario.metrics) {
      const sa = scoresOf(a, metric.name), sb = scoresOf(b, metric.name);
      const bounds = metric.bounds ? metric.bounds.map((v, i) => (v === null ? (i ? Infinity : -Infinity) : v)) : null;
      const d = a.run === b.run && a.variant && b.variant
        ? variantDifference(sb, sa) : pairedDifference(sb, sa, bounds);
      const row = document.createElement("tr");
      row.dataset.metric = metric.name;
      cell(row, metric.name);
      cell(row, number(meanOf(d.keys.map((k) => sa[k]))), "num value-a");
      cell(row, number(meanOf(d.keys.map((k) => sb[k]))), "num value-b");
      cell(row, signed(d.mean), "num diff");
      cell(row, interval(d.ci), "num ci");
      cell(row, String(d.n), "num paired");
      cell(row, d.n ? status(d.ci, metric.better) : "no paired samples", "status");
      body.appendChild(row);
    }
  }
  function fromHash(scenario) {
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("scenario") !== scenario.name) return null;
    const find = (side) => scenario.options.findIndex((o) => o.run === params.get(side) &&
      (o.variant || "") === (params.get(side + "v") || ""));
    const a = find("a"), b = find("b");
    return a >= 0 && b >= 0 ? [a, b] : null;
  }
  function toHash(scenario, a, b) {
    const params = new URLSearchParams({ scenario: scenario.name, a: a.run, b: b.run });
    if (a.variant) params.set("av", a.variant);
    if (b.variant) params.set("bv", b.variant);
    try {
      history.replaceState(null, "", "#" + params.toString());
    } catch (error) {  // a browser that refuses it for a file: page; the hash still works
      location.hash = params.toString();
    }
  }
  data.scenarios.forEach((scenario, index) => {
    const section = document.getElementById("compare-" + index);
    if (!section || scenario.options.length === 0) return;
    const picks = [section.querySelector("select.pick-a"), section.querySelector("select.pick-b")];
    for (const select of picks) {
      scenario.options.forEach((option, i) => {
        const el = document.createElement("option");
        el.value = String(i);
        el.textContent = option.label;
        select.appendChild(el);
      });
    }
    // By default the newest run's second variant against its reference (listed first), or
    // without variants the newest run (B) against the one before it (A).
    const [first, second] = scenario.options;
    const variantsFirst = second && first.variant && second.run === first.run;
    const chosen = fromHash(scenario) || (variantsFirst ? [0, 1] : [second ? 1 : 0, 0]);
    picks[0].value = String(chosen[0]);
    picks[1].value = String(chosen[1]);
    for (const select of picks) {
      select.addEventListener("change", () => {
        render(section, scenario);
        toHash(scenario, scenario.options[picks[0].value], scenario.options[picks[1].value]);
      });
    }
    section.hidden = false;
    render(section, scenario);
  });
})();
