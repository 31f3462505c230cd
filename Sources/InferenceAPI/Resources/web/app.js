// The operator's page: reads the JSON API with the visitor's token or API key (kept in this tab's
// sessionStorage only) and redraws every few seconds. No data is embedded in the page.
"use strict";

var REFRESH_MS = 5000;
var state = { asset: null, timeline: null, traffic: null, timer: null, forecastMetric: "", threshold: "" };

function $(id) { return document.getElementById(id); }

function credential() {
  var saved = sessionStorage.getItem("credential");
  return saved ? JSON.parse(saved) : null;
}

function headers() {
  var c = credential();
  var fields = { "Accept": "application/json" };
  if (c && c.kind === "token") fields["Authorization"] = "Bearer " + c.value;
  if (c && c.kind === "key") fields["X-API-Key"] = c.value;
  return fields;
}

// `absent`: what a 404 stands for (a route that answers 404 when there is nothing to show).
function api(path, absent) {
  // credentials: "omit": the API's 401 offers Basic, and a browser would answer it with its own
  // sign-in dialog; the page sends its credential in headers, never cookies.
  return fetch(path, { headers: headers(), cache: "no-store", credentials: "omit" }).then(function (response) {
    if (response.status === 401) { signOut("Your credentials were refused or have expired."); throw new Error("401"); }
    if (response.status === 403) return null;  // this credential may not read it: the card stays empty
    if (response.status === 404 && absent !== undefined) return absent;
    if (!response.ok) throw new Error(path + " answered " + response.status);
    return response.json();
  });
}

// A change (POST, DELETE): resolves when it succeeded, else rejects with the API's message.
function send(method, path) {
  return fetch(path, { method: method, headers: headers(), cache: "no-store", credentials: "omit" }).then(function (response) {
    if (response.ok) return null;
    return response.json().then(function (body) { throw new Error(body.error ? body.error.message : method + " " + path + " answered " + response.status); },
      function () { throw new Error(method + " " + path + " answered " + response.status); });
  });
}

function text(parent, tag, content, className) {
  var element = document.createElement(tag);
  element.textContent = content;
  if (className) element.className = className;
  parent.appendChild(element);
  return element;
}

function clear(element) { while (element.firstChild) element.removeChild(element.firstChild); }

function fixed(value, digits) { return value === null || value === undefined ? "–" : Number(value).toFixed(digits); }

// ---- sign-in

function showSignIn(message) {
  $("dashboard").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

function signOut(message) {
  sessionStorage.removeItem("credential");
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  showSignIn(message);
}

function signedIn(credentialValue) {
  sessionStorage.setItem("credential", JSON.stringify(credentialValue));
  start();
}

$("login-form").addEventListener("submit", function (event) {
  event.preventDefault();
  var form = event.target;
  fetch("/auth/token", {
    method: "POST", headers: { "Content-Type": "application/json" }, cache: "no-store",
    body: JSON.stringify({ username: form.username.value, password: form.password.value }),
  }).then(function (response) {
    return response.json().then(function (body) {
      if (!response.ok) throw new Error(body.error ? body.error.message : "sign-in failed");
      form.reset();
      signedIn({ kind: "token", value: body.access_token });
    });
  }).catch(function (error) { $("signin-error").textContent = error.message; });
});

$("key-form").addEventListener("submit", function (event) {
  event.preventDefault();
  var key = event.target.key.value;
  event.target.reset();
  signedIn({ kind: "key", value: key });
});

$("signout").addEventListener("click", function () { signOut(""); });

// ---- cards

function drawModel(model) {
  var list = $("model");
  clear(list);
  if (!model) { text(list, "dd", "Needs the models:admin scope."); return; }
  var rows = [
    ["run", (model.run_name || "") + " (" + model.run_id + ")"],
    ["experiment", model.experiment],
    ["registered", model.registered_model ? model.registered_model.name + " v" + model.registered_model.version + (model.registered_model.alias ? " @" + model.registered_model.alias : "") : "–"],
    ["loaded at", model.loaded_at],
    ["booster", model.booster.format + ", " + model.booster.trees + " trees"],
  ];
  Object.keys(model.metrics || {}).sort().forEach(function (name) { rows.push([name, fixed(model.metrics[name], 4)]); });
  rows.forEach(function (row) { text(list, "dt", row[0]); text(list, "dd", row[1]); });
}

function drawHistory(history) {
  var body = $("history").tBodies[0];
  clear(body);
  ((history && history.activations) || []).slice(0, 10).forEach(function (a) {
    var tr = document.createElement("tr");
    text(tr, "td", a.activated_at || "");
    text(tr, "td", a.run_id.slice(0, 12) + (a.serving ? " (serving)" : ""));
    text(tr, "td", a.reason || "");
    body.appendChild(tr);
  });
}

function drawTraffic(summary) {
  if (!summary) { $("traffic-totals").textContent = "Needs the metrics:read scope."; return; }
  $("traffic-totals").textContent = summary.requests + " requests; p50 " + fixed(summary.p50_ms, 2) + " ms, p95 " +
    fixed(summary.p95_ms, 2) + " ms, p99 " + fixed(summary.p99_ms, 2) + " ms";
  var now = Date.now();
  var rows = summary.minutes.map(function (m) {
    return [new Date(now - m.minutes_ago * 60000), m.requests, m.p50_ms, m.p95_ms, m.p99_ms];
  });
  var options = {
    labels: ["time", "requests/min", "p50 ms", "p95 ms", "p99 ms"], series: { "requests/min": { axis: "y" }, "p50 ms": { axis: "y2" },
      "p95 ms": { axis: "y2" }, "p99 ms": { axis: "y2" } }, axes: { y2: { independentTicks: true } }, legend: "always", connectSeparatedPoints: false,
  };
  if (state.traffic) state.traffic.updateOptions(Object.assign({ file: rows }, options));
  else state.traffic = new Dygraph($("traffic-chart"), rows, options);

  var histogram = $("hazard-histogram");
  clear(histogram);
  var most = Math.max.apply(null, summary.hazard_probability_histogram.concat([1]));
  summary.hazard_probability_histogram.forEach(function (count, bin) {
    var bar = text(histogram, "div", "", "bar");
    bar.style.height = (100 * count / most) + "%";
    bar.title = (bin / 10).toFixed(1) + "–" + ((bin + 1) / 10).toFixed(1) + ": " + count;
    bar.dataset.count = count;
  });
  $("hazard-totals").textContent = summary.predictions + " readings scored, " + summary.hazardous + " hazardous";
}

function drawDrift(report) {
  var body = $("drift").tBodies[0];
  clear(body);
  if (!report) return;
  report.features.forEach(function (f) {
    var tr = document.createElement("tr");
    text(tr, "td", f.name);
    text(tr, "td", fixed(f.mean_shift, 2) + " / " + fixed(report.threshold, 1));
    text(tr, "td", fixed(f.std_ratio, 2));
    text(tr, "td", f.count === 0 ? "no readings" : f.drifted ? "drifted" : "ok", f.drifted ? "bad" : "");
    body.appendChild(tr);
  });
}

function drawPerformance(performance) {
  var list = $("performance");
  clear(list);
  if (!performance || performance.metrics.count === 0) { text(list, "dd", "No feedback yet (POST /feedback)."); return; }
  var m = performance.metrics;
  [["feedback rows", performance.feedback_rows], ["precision", fixed(m.precision, 3)], ["recall", fixed(m.recall, 3)],
   ["ROC AUC", fixed(m.roc_auc, 3)], ["accuracy", fixed(m.accuracy, 3)]].forEach(function (row) {
    text(list, "dt", row[0]); text(list, "dd", String(row[1]));
  });
}

// ---- champion and challenger

function percent(value) { return value === null || value === undefined ? "–" : (100 * value).toFixed(1) + " %"; }

function drawChallenger(status) {
  var card = $("challenger-card");
  var list = $("challenger");
  clear(list);
  clear($("challenger-histogram"));
  clear($("challenger-feedback").tBodies[0]);
  var running = status && !status.none && status.status === "running";
  $("challenger-promote").hidden = !running;
  $("challenger-stop").hidden = !running;
  card.dataset.compared = status && !status.none ? String(status.compared) : "";
  card.dataset.status = status ? (status.none ? "none" : status.status) : "";
  $("challenger-detail").hidden = !status || !!status.none;
  if (!status) { $("challenger-summary").textContent = "Needs the models:admin scope."; return; }
  if (status.none) { $("challenger-summary").textContent = "No experiment running (POST /models/challenger starts one)."; return; }
  $("challenger-summary").textContent = status.mode + (status.mode === "canary" ? " " + status.percent + " %" : "") + ", " + status.status +
    " since " + status.started_at + " (counted over the " + status.counted_over + ")";
  var rows = [
    ["champion", status.champion ? (status.champion.run_name || "") + " (" + status.champion.run_id.slice(0, 12) + ")" : "–"],
    ["challenger", (status.challenger.run_name || "") + " (" + status.challenger.run_id.slice(0, 12) + ")"],
    ["compared", String(status.compared)],
    ["label agreement", percent(status.label_agreement)],
    ["mean |diff|", fixed(status.mean_abs_diff, 6)],
    ["max |diff|", fixed(status.max_abs_diff, 6)],
  ];
  var routed = status.routed.champion + status.routed.challenger;
  if (status.mode === "canary") rows.push(["routed to challenger", routed ? percent(status.routed.challenger / routed) + " of " + routed : "–"]);
  rows.push(["model step p50 / p99", fixed(status.latency.champion.p50_us, 1) + " / " + fixed(status.latency.champion.p99_us, 1) + " µs champion, " +
    fixed(status.latency.challenger.p50_us, 1) + " / " + fixed(status.latency.challenger.p99_us, 1) + " µs challenger"]);
  rows.push(["challenger errors", status.errors.challenger + " of " + status.calls.challenger + " calls"]);
  if (status.shadow_dropped) rows.push(["shadow dropped", String(status.shadow_dropped)]);
  if (status.stopped) rows.push(["stopped", status.stopped.reason]);
  rows.forEach(function (row) { text(list, "dt", row[0]); text(list, "dd", row[1], row[0] === "stopped" ? "bad" : ""); });
  var histogram = $("challenger-histogram");
  var most = Math.max.apply(null, status.abs_diff_histogram.map(function (b) { return b.count; }).concat([1]));
  status.abs_diff_histogram.forEach(function (bin) {
    var bar = text(histogram, "div", "", "bar");
    bar.style.height = (100 * bin.count / most) + "%";
    bar.title = (bin.up_to === 0 ? "exactly 0" : "≤ " + bin.up_to) + ": " + bin.count;
    bar.dataset.count = bin.count;
  });
  ["champion", "challenger"].forEach(function (role) {
    var f = status.feedback[role];
    var tr = document.createElement("tr");
    [role, String(f.n), fixed(f.precision, 3), fixed(f.recall, 3), fixed(f.auc, 3)].forEach(function (v) { text(tr, "td", v); });
    $("challenger-feedback").tBodies[0].appendChild(tr);
  });
}

function challengerAction(method, path) {
  $("challenger-error").textContent = "";
  send(method, path).then(refresh, function (error) { $("challenger-error").textContent = error.message; });
}

$("challenger-promote").addEventListener("click", function () { challengerAction("POST", "/models/challenger/promote"); });
$("challenger-stop").addEventListener("click", function () { challengerAction("DELETE", "/models/challenger"); });

// ---- anomalies

function drawAssets(answer) {
  var picker = $("asset-picker");
  var assets = (answer && answer.assets) || [];
  var ids = assets.map(function (a) { return a.asset_id; });
  if (picker.options.length !== ids.length || ids.some(function (id, k) { return picker.options[k].value !== id; })) {
    clear(picker);
    ids.forEach(function (id) { var o = text(picker, "option", id); o.value = id; });
  }
  if (!state.asset || ids.indexOf(state.asset) < 0) state.asset = ids[0] || null;
  if (state.asset) picker.value = state.asset;
}

$("asset-picker").addEventListener("change", function (event) {
  state.asset = event.target.value;
  refreshTimeline();
});

// The forecast's metric picker lists the asset's metrics; "none" draws no forecast.
function drawForecastPicker(names) {
  var picker = $("forecast-metric");
  var wanted = [""].concat(names);
  if (picker.options.length !== wanted.length || wanted.some(function (n, k) { return picker.options[k].value !== n; })) {
    clear(picker);
    wanted.forEach(function (n) { var o = text(picker, "option", n || "none"); o.value = n; });
  }
  if (wanted.indexOf(state.forecastMetric) < 0) state.forecastMetric = "";
  picker.value = state.forecastMetric;
}

$("forecast-metric").addEventListener("change", function (event) { state.forecastMetric = event.target.value; refreshTimeline(); });
$("forecast-threshold").addEventListener("change", function (event) { state.threshold = event.target.value; refreshTimeline(); });

// The forecast for the picked metric, or null (none picked, or too little history: said in the summary).
function fetchForecast(asset) {
  var summary = $("forecast-summary");
  if (!state.forecastMetric) { summary.textContent = ""; summary.dataset.points = "0"; summary.dataset.crossing = ""; return Promise.resolve(null); }
  var path = "/anomaly/forecast/" + encodeURIComponent(asset) + "?metric=" + encodeURIComponent(state.forecastMetric) + "&horizon=288";
  if (state.threshold !== "" && isFinite(Number(state.threshold))) path += "&threshold=" + encodeURIComponent(state.threshold);
  return fetch(path, { headers: headers(), cache: "no-store", credentials: "omit" }).then(function (response) {
    return response.json().then(function (body) {
      if (!response.ok) { summary.textContent = "Forecast: " + (body.error ? body.error.message : response.status); summary.dataset.points = "0"; return null; }
      var c = body.crossing;
      summary.dataset.points = String(body.forecast.length);
      summary.dataset.crossing = c && c.timestamp ? c.timestamp : "";
      summary.textContent = "Forecast of " + body.metric + " (" + body.components.join(", ") + "; " + fixed(body.growth_per_week, 2) + " a week)" +
        (c ? (c.timestamp ? "; passes " + c.threshold + " at " + c.timestamp : "; does not pass " + c.threshold + " within a day") +
          " (chance " + percent(c.probability) + ")" : "");
      return body;
    });
  });
}

function drawTimeline(asset, samples, scores, forecast) {
  var chart = $("timeline-chart");
  var metrics = {};
  samples.samples.forEach(function (s) { Object.keys(s.metrics).forEach(function (m) { metrics[m] = true; }); });
  var names = Object.keys(metrics).sort();
  drawForecastPicker(names);
  var flaggedAt = {};
  scores.scores.forEach(function (s) { if (s.is_anomaly) flaggedAt[s.timestamp] = s; });
  var rows = samples.samples.map(function (s) {
    var flag = flaggedAt[s.timestamp];
    var value = null;
    if (flag) value = s.metrics[flag.metric_name] !== undefined ? s.metrics[flag.metric_name] : s.metrics[names[0]];
    return [new Date(s.timestamp)].concat(names.map(function (m) { return s.metrics[m] === undefined ? null : s.metrics[m]; })).concat([value]);
  });
  var bands = forecast ? ["forecast", "lower", "upper"] : [];
  if (forecast) {
    rows.forEach(function (row) { row.push(null, null, null); });
    forecast.forecast.forEach(function (p) {
      rows.push([new Date(p.timestamp)].concat(names.map(function () { return null; })).concat([null, p.value, p.lower, p.upper]));
    });
  }
  var drawn = 0;
  var series = {};
  series["flagged"] = { drawPoints: true, strokeWidth: 0, pointSize: 4, color: "#d62728",
    drawPointCallback: function (g, name, ctx, cx, cy, color, size) {
      drawn += 1;
      Dygraph.Circles.DEFAULT(g, name, ctx, cx, cy, color, size);
    } };
  if (forecast) {
    series["forecast"] = { color: "#1f6feb", strokePattern: [6, 3] };
    series["lower"] = { color: "#9dbcf5", strokePattern: [2, 3] };
    series["upper"] = { color: "#9dbcf5", strokePattern: [2, 3] };
  }
  var options = {
    labels: ["time"].concat(names).concat(["flagged"]).concat(bands), series: series, legend: "always", drawPoints: false,
    drawCallback: function (g, initial) {
      chart.dataset.flaggedDrawn = String(drawn);
      chart.dataset.asset = asset;
      drawn = 0;
    },
  };
  if (rows.length === 0) {
    if (state.timeline) { state.timeline.destroy(); state.timeline = null; }
    chart.dataset.flaggedDrawn = "0"; chart.dataset.asset = asset;
    chart.textContent = "No samples for " + asset + " in the last 24 hours.";
    return;
  }
  if (state.timeline && state.timeline.getLabels().join() === options.labels.join()) {
    state.timeline.updateOptions(Object.assign({ file: rows }, options));
  } else {
    if (state.timeline) state.timeline.destroy();
    clear(chart);
    state.timeline = new Dygraph(chart, rows, options);
  }
  var count = scores.scores.filter(function (s) { return s.is_anomaly; }).length;
  $("timeline-summary").textContent = rows.length + " samples, " + count + " flagged";
}

function drawAnomalyTable(scores) {
  var body = $("anomalies").tBodies[0];
  clear(body);
  scores.scores.filter(function (s) { return s.is_anomaly; }).slice(0, 20).forEach(function (s) {
    var tr = document.createElement("tr");
    text(tr, "td", s.timestamp);
    text(tr, "td", fixed(s.score, 3));
    text(tr, "td", s.method);
    text(tr, "td", s.metric_name);
    body.appendChild(tr);
  });
}

function refreshTimeline() {
  var asset = state.asset;
  if (!asset) return Promise.resolve();
  var id = encodeURIComponent(asset);
  return Promise.all([api("/anomaly/samples/" + id + "?hours=24&limit=2000"), api("/anomaly/scores/" + id + "?hours=24&limit=10000"), fetchForecast(asset)])
    .then(function (answers) {
      if (!answers[0] || !answers[1] || asset !== state.asset) return;
      drawTimeline(asset, answers[0], answers[1], answers[2]);
      drawAnomalyTable(answers[1]);
    });
}

// ---- refresh loop

function refresh() {
  var cards = [
    // The experiment's card reads /models/challenger only when /models/active says one runs
    // (else that route answers 404, which a browser reports as an error).
    api("/models/active").then(function (model) {
      drawModel(model);
      if (!model) { drawChallenger(null); return; }
      if (!model.challenger) { drawChallenger({ none: true }); return; }
      return api("/models/challenger", { none: true }).then(drawChallenger);
    }),
    api("/models/history").then(drawHistory),
    api("/metrics/summary").then(drawTraffic),
    api("/drift").then(drawDrift),
    api("/models/active/performance").then(drawPerformance),
    api("/anomaly/assets").then(drawAssets).then(refreshTimeline),
  ];
  return Promise.all(cards.map(function (p) { return p.catch(function (e) { return e; }); })).then(function (results) {
    var failed = results.filter(function (r) { return r instanceof Error && r.message !== "401"; });
    $("status").textContent = failed.length ? "Some cards failed to load: " + failed[0].message : "Updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  });
}

function start() {
  $("signin").hidden = true;
  $("dashboard").hidden = false;
  $("signout").hidden = false;
  refresh();
  if (!state.timer) state.timer = setInterval(refresh, REFRESH_MS);
}

// Without a saved credential, ask the service whether it needs one: in development mode (no users
// or keys configured) there is nothing to sign in with, so the dashboard opens.
function openPage() {
  if (credential()) { start(); return; }
  fetch("/health", { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "omit" }).then(function (response) {
    return response.ok ? response.json() : { credentials_required: true };
  }).then(function (health) {
    if (health.credentials_required === false) { start(); $("signout").hidden = true; } else showSignIn("");
  }).catch(function () { showSignIn(""); });
}

openPage();
