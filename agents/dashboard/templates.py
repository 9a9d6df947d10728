"""Jinja templates of the dashboard, kept in the package as strings (nothing to install
beside the code, no static files)."""

from __future__ import annotations

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{% block title %}Creative Genome{% endblock %} · Creative Genome</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
nav { background: #222; padding: 8px 16px; }
nav a { color: #eee; margin-right: 14px; text-decoration: none; }
main { padding: 16px 24px; }
table { border-collapse: collapse; margin: 8px 0 18px; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }
th { background: #f4f4f4; }
.msg { background: #e8f4e8; padding: 6px 10px; border-left: 4px solid #2ca02c; }
.err { background: #fbeaea; padding: 6px 10px; border-left: 4px solid #d62728; }
.critical { color: #b00; font-weight: bold; } .warning { color: #b60; }
form.inline { display: inline; }
.muted { color: #777; font-size: 12px; }
nav form { float: right; margin: 0; } nav .who { color: #bbb; float: right; margin-right: 10px; }
nav button { background: none; border: 1px solid #777; color: #eee; cursor: pointer; }
img.thumb { max-width: 160px; max-height: 160px; border: 1px solid #ccc; }
.checks td, .checks th { padding: 1px 6px; font-size: 12px; border: none; }
.low { color: #b00; font-weight: bold; } .label { background: #fff3cd; padding: 1px 5px; }
</style></head>
<body>
<nav>
{% if current_user.is_authenticated %}
<form method="post" action="/logout">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button type="submit" id="logout">Log out</button></form>
<span class="who" id="who">{{ current_user.username }} · {{ current_user.role }} ·
{{ current_user.organization_name }}</span>
<a href="/">Brands</a><a href="/review">Review queue</a><a href="/calibration">Calibration</a>
<a href="/exemplars">Exemplars</a><a href="/costs">Costs</a><a href="/alerts">Alerts</a>
{% endif %}
{% if brand %}<span style="color:#999">|</span>
<a href="/brand/{{ brand.id }}/scores">Scores</a>
<a href="/brand/{{ brand.id }}/attribution">Attribution</a>
<a href="/brand/{{ brand.id }}/causal">Causal graph</a>
<a href="/brand/{{ brand.id }}/experiments">Experiments</a>
<a href="/brand/{{ brand.id }}/v1v2">V1 vs V2</a>
<a href="/brand/{{ brand.id }}/fatigue">Fatigue</a>
<a href="/brand/{{ brand.id }}/whitespace">Whitespace</a>{% endif %}
</nav>
<main>
{% if msg %}<p class="msg" id="msg">{{ msg }}</p>{% endif %}
{% for e in errors %}<p class="err">{{ e }}</p>{% endfor %}
{% if now %}<p class="muted">As of {{ now }}{% if brand %} · brand {{ brand.name }}
{% if brand.category %}
({{ brand.category }}{% if brand.cross_brand_sharing %}, shares with its category{% endif %})
{% endif %}{% endif %}</p>{% endif %}
{% block body %}{% endblock %}
</main></body></html>"""

INDEX = """{% extends "base.html" %}{% block title %}Brands{% endblock %}{% block body %}
<h1>Brands</h1>
<table id="brands"><tr><th>Organization</th><th>Brand</th><th>Category</th><th>Sharing</th>
<th>Genome version</th><th>Cold-start level</th><th>Matured ads</th><th>Stale</th></tr>
{% for b in brands %}<tr><td>{{ b.organization }}</td>
<td><a href="/brand/{{ b.id }}/scores">{{ b.name }}</a></td><td>{{ b.category or "-" }}</td>
<td>{{ "yes" if b.cross_brand_sharing else "no" }}</td><td>{{ b.genome_version or "-" }}</td>
<td>{{ b.cold_start_level if b.cold_start_level is not none else "-" }}</td>
<td>{{ b.rewards }}</td><td>{{ "yes" if b.is_stale else "no" }}</td></tr>{% endfor %}
</table>{% endblock %}"""

SCORES = """{% extends "base.html" %}{% block title %}Scores{% endblock %}{% block body %}
<h1>Genome scores</h1>
<p class="muted">Posterior mean success rate per element value (dot) with its 95% interval (bar):
the brand's evidence blended with its cold-start prior.</p>
{% for dim, rows, chart in dimensions %}
<h2 id="dim-{{ dim }}">{{ dim }}</h2>
{{ chart }}
<table class="scores"><tr><th>Value</th><th>Mean</th><th>95% interval</th><th>Rewards</th>
<th>P(wins draw)</th></tr>
{% for r in rows %}<tr><td>{{ r.value }}</td><td>{{ fmt(r.mean) }}</td>
<td>{{ fmt(r.ci_lower) }} - {{ fmt(r.ci_upper) }}</td><td>{{ r.n_rewards }}</td>
<td>{{ fmt(r.win_probability) }}</td></tr>{% endfor %}</table>
{% else %}<p>No scores yet: run update_scores.</p>{% endfor %}
{% endblock %}"""

CAUSAL = """{% extends "base.html" %}{% block title %}Causal graph{% endblock %}{% block body %}
<h1>Causal graph</h1>
<p class="muted">Edges element &rarr; metric are experiments' average treatment effects
(treatment vs control; dashed when the 95% interval spans zero). Arcs between elements are
observational interaction effects on click log-odds (genome.interactions).</p>
{{ graph }}
<h2>Experimental effects</h2>
<table id="effects"><tr><th>Variable</th><th>Control</th><th>Treatment</th><th>Metric</th>
<th>Effect</th><th>Relative</th><th>95% interval</th><th>P(&gt;0)</th><th>Experiment</th></tr>
{% for e in effects %}<tr><td>{{ e.test_variable }}</td><td>{{ e.control_value }}</td>
<td>{{ e.treatment_value }}</td><td>{{ e.primary_metric }}</td><td>{{ fmt(e.effect, 4) }}</td>
<td>{{ fmt(e.relative_effect) }}</td><td>{{ fmt(e.ci_lower, 4) }} - {{ fmt(e.ci_upper, 4) }}</td>
<td>{{ fmt(e.p_positive) }}</td><td>{{ e.experiment }}</td></tr>{% endfor %}</table>
<h2>Interactions</h2>
<table id="interactions"><tr><th>#</th><th>Element A</th><th>Element B</th><th>Log OR</th>
<th>95% interval</th><th>Ads with both</th><th>Label</th></tr>
{% for i in pairs %}<tr><td>{{ i.rank }}</td><td>{{ i.dimension_a }}={{ i.value_a }}</td>
<td>{{ i.dimension_b }}={{ i.value_b }}</td><td>{{ fmt(i.interaction_log_or) }}</td>
<td>{{ fmt(i.ci_lower) }} - {{ fmt(i.ci_upper) }}</td><td>{{ i.n_both }}</td>
<td>{{ i.label }}</td></tr>{% endfor %}</table>
{% endblock %}"""

EXPERIMENTS = """{% extends "base.html" %}{% block title %}Experiments{% endblock %}{% block body %}
<h1>Experiments</h1>
{% if current_user.can("reviewer") %}
<details id="propose" {% if form %}open{% endif %}><summary>Propose an experiment</summary>
<p class="muted">One variable, control against treatments; the power analysis and the budget
gate run in the database (genome.propose_experiment, docs/experiments.md) and a refusal is
shown as it is.</p>
<form method="post" action="/brand/{{ brand.id }}/experiments">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label>Product <select name="product_id">{% for p in products %}
<option value="{{ p.id }}" {% if form.product_id == p.id|string %}selected{% endif %}>
{{ p.name }}</option>{% endfor %}</select></label>
<label>Variable <select name="variable">{% for d in dims %}<option
{% if form.variable == d %}selected{% endif %}>{{ d }}</option>{% endfor %}</select></label>
<label>Control <input name="control" value="{{ form.control or '' }}"></label>
<label>Treatments (comma-separated) <input name="treatments"
value="{{ form.treatments or '' }}"></label><br>
<label>Hypothesis <input name="hypothesis" size="50" value="{{ form.hypothesis or '' }}"></label>
<label>Budget per arm per day <input name="budget" size="6" value="{{ form.budget or '50' }}">
</label>
<label>Max days <input name="max_days" size="4" value="{{ form.max_days or '14' }}"></label>
<button type="submit" class="propose">Propose</button></form></details>{% endif %}
{% for e, chart in experiments %}
<section class="experiment" id="exp-{{ e.id }}"><h2>{{ e.name }}</h2>
<p>{{ e.hypothesis }} · variable <b>{{ e.test_variable }}</b> · status
<b class="status">{{ e.status }}</b> · verdict <b class="verdict">{{ e.verdict or "pending" }}</b>
</p>
{% if e.result_summary %}<p class="muted">Result: {{ e.result_summary }}</p>{% endif %}
{% if e.effects %}<table class="effects"><tr><th>Control</th><th>Treatment</th><th>Metric</th>
<th>Effect</th><th>Relative</th><th>95% interval</th><th>P(&gt;0)</th></tr>
{% for c in e.effects %}<tr><td>{{ c.control }}</td><td>{{ c.treatment }}</td>
<td>{{ c.metric }}</td><td>{{ fmt(c.effect, 4) }}</td><td>{{ fmt(c.relative) }}</td>
<td>{{ fmt(c.lower, 4) }} - {{ fmt(c.upper, 4) }}</td><td>{{ fmt(c.p_positive) }}</td></tr>
{% endfor %}</table>{% endif %}
{% if chart %}<p class="muted">P(best) per arm over the daily analyses (dashed: the 0.9 winner
threshold).</p>{{ chart }}{% endif %}
</section>
{% else %}<p>No experiments for this brand.</p>{% endfor %}
{% endblock %}"""

REVIEW = """{% extends "base.html" %}{% block title %}Review queue{% endblock %}{% block body %}
<h1>Review queue</h1>
<p class="muted">Flagged ads first, then AI decisions no human has looked at. Click an image for
full size. A decision is recorded under your name (genome.record_override; history is kept)
and teaches the calibration (docs/quality.md).</p>
<table id="review"><tr><th>Image</th><th>Ad</th><th>Reviews (checks scored 0-10)</th>
<th>Decide</th></tr>
{% for a in ads %}<tr id="ad-{{ a.id }}">
<td>{% if a.storage_path %}<a href="/ad/{{ a.id }}/image" target="_blank">
<img class="thumb" src="/ad/{{ a.id }}/image?thumb=1" alt="ad {{ a.id }}"></a>
{% else %}<span class="muted">no image</span>{% endif %}</td>
<td><b>{{ a.brand }}</b><br><span class="muted">{{ a.id }}</span><br>
AI: <b class="ai-status">{{ a.final_status }}</b>, score {{ fmt(a.score, 2) }}<br>
<span class="muted">{{ a.decision_reason or "" }}</span><br>
<span class="muted">{% for k, v in (a.element_tags or {}).items() %}{{ k }}={{ v }}<br>
{% endfor %}</span></td>
<td>{% for r in a.reviews %}<div class="review-stage">
<b>{{ "Second opinion" if r.stage == "second_opinion" else "Review" }}</b> by {{ r.reviewer }}
({{ r.model }}): {{ r.verdict }}, weighted {{ fmt(r.score, 2) }}
{% if r.notes %}<p class="notes">Notes: {{ r.notes }}</p>{% endif %}
<table class="checks">{% for code, score in (r.checks or {}).items()|sort %}<tr>
<td>{{ checks[code].name if code in checks else code }}</td><td class="muted">{{ code }}</td>
<td class="{{ 'low' if score < 5 else '' }}">{{ fmt(score, 1) }}</td></tr>{% endfor %}</table>
</div>{% else %}<span class="muted">no review</span>{% endfor %}</td>
<td>{% if current_user.can("reviewer") %}
<form class="inline" method="post" action="/review/{{ a.id }}">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="text" name="reason" placeholder="reason"><br>
<button type="submit" name="status" value="approved" class="approve">Approve</button>
<button type="submit" name="status" value="rejected" class="reject">Reject</button>
</form>{% else %}<span class="muted">view only</span>{% endif %}</td></tr>
{% else %}<tr><td colspan="4">Nothing waiting.</td></tr>{% endfor %}
</table>{% endblock %}"""

ALERTS = """{% extends "base.html" %}{% block title %}Alerts{% endblock %}{% block body %}
<h1>Alerts</h1>
<table id="alerts"><tr><th>Severity</th><th>Type</th><th>Brand</th><th>Title</th><th>Value</th>
<th>Status</th><th></th></tr>
{% for a in alerts %}<tr id="alert-{{ a.id }}"><td class="{{ a.severity }}">{{ a.severity }}</td>
<td>{{ a.alert_type }}</td><td>{{ a.brand or "-" }}</td><td>{{ a.title }}</td>
<td>{{ fmt(a.metric_value) }}</td>
<td class="status">{{ a.status }}
{% if a.acknowledged_by %} by {{ a.acknowledged_by }}{% endif %}</td>
<td>{% if a.status == "active" and current_user.can("reviewer") %}
<form class="inline" method="post" action="/alerts/{{ a.id }}/acknowledge">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button type="submit" class="acknowledge">Acknowledge</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="7">No open alerts.</td></tr>{% endfor %}
</table>{% endblock %}"""

V1V2 = """{% extends "base.html" %}{% block title %}V1 vs V2{% endblock %}{% block body %}
<h1>V1 vs V2</h1>
<p class="muted">Ads of the existing pipeline (V1) against genome-planned ads (V2), with
intervals (genome.compare_v1_v2).</p>
{% for metric, chart in charts %}<h2>{{ metric }}</h2>{{ chart }}{% endfor %}
<table id="v1v2"><tr><th>Cohort</th><th>Metric</th><th>n</th><th>Value</th><th>Interval</th>
<th>Method</th></tr>
{% for r in rows %}<tr><td>{{ r.cohort }}</td><td>{{ r.metric }}</td><td>{{ r.n }}</td>
<td>{{ fmt(r.value, 4) }}</td><td>{{ fmt(r.ci_lower, 4) }} - {{ fmt(r.ci_upper, 4) }}</td>
<td>{{ r.interval_method }}</td></tr>{% endfor %}</table>{% endblock %}"""

FATIGUE = """{% extends "base.html" %}{% block title %}Fatigue{% endblock %}{% block body %}
<h1>Creative fatigue</h1>
<h2>Days to fatigue per combination</h2>
<table id="forecast"><tr><th>Combination</th><th>Ads</th><th>Fatigued</th><th>Median days</th>
<th>Interval</th></tr>
{% for r in forecast %}<tr><td>{{ r.combo_key }}</td>
<td>{{ r.n_ads }}</td>
<td>{{ r.n_fatigued }}</td>
<td>{{ fmt(r.median_days_to_fatigue, 1) }}</td>
<td>{{ fmt(r.ci_lower, 1) }} - {{ fmt(r.ci_upper, 1) }}</td>
</tr>{% endfor %}</table>
<h2>Launched ads</h2>
<table id="fatigue"><tr><th>Ad</th><th>Status</th><th>Age</th>
<th>CTR first week</th>
<th>CTR now</th>
<th>Decay</th><th>Frequency</th><th>Fatigued on</th></tr>
{% for r in ads %}<tr><td>{{ r.generated_ad_id|string|truncate(13, true, "") }}</td>
<td>{{ r.status }}</td>
<td>{{ r.age_days }}</td><td>{{ fmt(r.baseline_ctr, 4) }}</td><td>{{ fmt(r.current_ctr, 4) }}</td>
<td>{{ fmt(r.ctr_decay, 2) }}</td>
<td>{{ fmt(r.est_frequency, 2) }}</td>
<td>{{ r.fatigued_on or "-" }}</td>
</tr>{% endfor %}</table>{% endblock %}"""

WHITESPACE = """{% extends "base.html" %}{% block title %}Whitespace{% endblock %}{% block body %}
<h1>Competitive whitespace</h1>
<p class="muted">Combinations rarely or never tested whose elements score well, ranked by the
expected value of information (expected improvement over the best tested combination).</p>
<table id="whitespace"><tr><th>#</th><th>Combination</th><th>Predicted</th><th>Interval</th>
<th>P(beats best)</th><th>EVOI</th><th>Tests</th><th>Competitor ads</th></tr>
{% for r in rows %}<tr><td>{{ r.rank }}</td>
<td>{{ r.combo_key }}</td>
<td>{{ fmt(r.predicted_mean) }}</td>
<td>{{ fmt(r.ci_lower) }} - {{ fmt(r.ci_upper) }}</td><td>{{ fmt(r.prob_beats_incumbent) }}</td>
<td>{{ fmt(r.evoi, 4) }}</td><td>{{ r.pooled_tests }}</td><td>{{ r.competitor_ads }}</td></tr>
{% endfor %}</table>{% endblock %}"""

LOGIN = """{% extends "base.html" %}{% block title %}Log in{% endblock %}{% block body %}
<h1>Log in</h1>
{% if error %}<p class="err" id="login-error">{{ error }}</p>{% endif %}
<form method="post" id="login">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<p><label>User <input name="username" autocomplete="username" autofocus></label></p>
<p><label>Password <input type="password" name="password"
autocomplete="current-password"></label></p>
<button type="submit">Log in</button></form>{% endblock %}"""

CALIBRATION = """{% extends "base.html" %}{% block title %}Calibration{% endblock %}
{% block body %}<h1>Review calibration</h1>
<p class="muted">Each calibrated version was learnt from the human decisions on the AI's reviews
(docs/quality.md#calibration): a false positive is an ad the rule approves that a human
rejected, a false negative one it rejects that a human approved; the search minimises
FP + {{ "weight" }} &middot; FN. Before / after are the parent's and this version's errors on
those same decisions. Nothing changes until an admin approves a version.</p>
<table id="configs"><tr><th>Version</th><th>Scope</th><th>State</th><th>Learnt from</th>
<th>FP rate before &rarr; after</th><th>FN rate before &rarr; after</th>
<th>Weighted error before &rarr; after</th><th>Pass threshold</th><th></th></tr>
{% for c in configs %}{% set m = c.calibration_metrics or {} %}
<tr id="config-{{ c.id }}"><td>{{ c.version }}{% if c.parent_version %}
<span class="muted">from {{ c.parent_version }}</span>{% endif %}</td>
<td>{{ c.brand or "organization" }}</td>
<td class="state">{{ "active" if c.is_active else ("approved earlier" if c.approved_by else
"proposed") }}{% if c.approved_by %} · by {{ c.approved_by }}{% endif %}</td>
<td>{{ c.calibrated_from_overrides }} decisions</td>
<td>{{ fmt(m.before.fp_rate) if m.before else "-" }} &rarr;
{{ fmt(m.after.fp_rate) if m.after else "-" }}</td>
<td>{{ fmt(m.before.fn_rate) if m.before else "-" }} &rarr;
{{ fmt(m.after.fn_rate) if m.after else "-" }}</td>
<td>{{ fmt(m.before.weighted_error) if m.before else "-" }} &rarr;
{{ fmt(m.after.weighted_error) if m.after else "-" }}</td>
<td>{{ fmt(c.pass_threshold, 2) }}</td>
<td>{% if not c.is_active and current_user.can("admin") %}
<form class="inline" method="post" action="/calibration/{{ c.id }}/approve">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button type="submit" class="approve-config">Approve &amp; activate</button></form>
{% endif %}</td></tr>
{% else %}<tr><td colspan="9">No review configs.</td></tr>{% endfor %}</table>
{% endblock %}"""

EXEMPLARS = """{% extends "base.html" %}{% block title %}Exemplars{% endblock %}{% block body %}
<h1>Exemplar library</h1>
<p class="muted">The few-shot examples the AI reviewer is shown (docs/quality.md#exemplar-library):
gold approvals, gold rejections and edge cases of each brand.</p>
<table id="exemplars"><tr><th>Image</th><th>Brand</th><th>Type</th><th>Notes</th><th>State</th>
<th></th></tr>
{% for e in exemplars %}<tr id="exemplar-{{ e.id }}">
<td><a href="/ad/{{ e.generated_ad_id }}/image" target="_blank"><img class="thumb"
src="/ad/{{ e.generated_ad_id }}/image?thumb=1" alt="exemplar"></a></td>
<td>{{ e.brand }}</td><td>{{ e.exemplar_type }}</td><td>{{ e.quality_notes }}</td>
<td class="state">{{ "active" if e.is_active else "retired" }}</td>
<td>{% if e.is_active and current_user.can("reviewer") %}
<form class="inline" method="post" action="/exemplars/{{ e.id }}/retire">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button type="submit" class="retire">Retire</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="6">No exemplars yet.</td></tr>{% endfor %}</table>
<h2>Add from a reviewed ad</h2>
<table id="candidates"><tr><th>Image</th><th>Brand</th><th>Human decision</th><th></th></tr>
{% for c in candidates %}<tr id="candidate-{{ c.id }}">
<td><a href="/ad/{{ c.id }}/image" target="_blank"><img class="thumb"
src="/ad/{{ c.id }}/image?thumb=1" alt="ad"></a></td><td>{{ c.brand }}</td>
<td>{{ c.human_status }} by {{ c.overridden_by or "?" }}: {{ c.human_reason or "" }}</td>
<td>{% if current_user.can("reviewer") %}<form class="inline" method="post"
action="/exemplars">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="ad_id" value="{{ c.id }}">
<select name="exemplar_type">
<option value="gold_approve" {% if c.human_status == "approved" %}selected{% endif %}>gold
approve</option>
<option value="gold_reject" {% if c.human_status == "rejected" %}selected{% endif %}>gold
reject</option><option value="edge_case">edge case</option></select>
<input name="notes" placeholder="what it teaches">
<button type="submit" class="add-exemplar">Add</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="4">No reviewed ads to add.</td></tr>{% endfor %}</table>
{% endblock %}"""

COSTS = """{% extends "base.html" %}{% block title %}Costs{% endblock %}{% block body %}
<h1>Model costs</h1>
<p class="muted">Every model call the agents made for your ads (genome.provider_calls), priced
by the per-model settings.</p>
<h2>Per brand and model</h2>
<table id="costs"><tr><th>Brand</th><th>Model</th><th>Operation</th><th>Calls</th>
<th>Failed</th><th>Ads</th><th>Cost (USD)</th><th>Per ad</th></tr>
{% for c in by_brand %}<tr><td>{{ c.brand }}</td><td>{{ c.model }}</td><td>{{ c.operation }}</td>
<td>{{ c.calls }}</td><td>{{ c.failed }}</td><td>{{ c.ads }}</td><td>{{ fmt(c.cost_usd, 4) }}</td>
<td>{{ fmt(c.cost_per_ad, 4) }}</td></tr>
{% else %}<tr><td colspan="8">No model calls yet.</td></tr>{% endfor %}</table>
<h2>Most expensive ads</h2>
<table id="costs-ads"><tr><th>Ad</th><th>Brand</th><th>Cost (USD)</th><th>By model</th></tr>
{% for a in by_ad %}<tr><td class="muted">{{ a.id }}</td><td>{{ a.brand }}</td>
<td>{{ fmt(a.cost_usd, 4) }}</td><td class="muted">{% for m, v in a.by_model.items() %}
{{ m }}: {{ fmt(v, 4) }}<br>{% endfor %}</td></tr>{% endfor %}</table>
{% endblock %}"""

ATTRIBUTION = """{% extends "base.html" %}{% block title %}Attribution{% endblock %}
{% block body %}<h1>Attribution: {{ dimension }}</h1>
<p><span class="label" id="correlational">Correlational</span> These are associations in the
brand's own delivery data, stratified to remove confounding by the context dimensions
(Mantel-Haenszel, docs/attribution.md#correlational), not experiments: an element can
look good because of what it was shown with. Only an experiment (Experiments page)
measures a cause.</p>
<form method="get">{% for d in dims %}<a href="?dimension={{ d }}"
{% if d == dimension %}style="font-weight:bold"{% endif %}>{{ d }}</a> {% endfor %}</form>
{{ chart }}
<p class="muted">Stratified odds ratio of a click for each value against the rest, with its 95%
interval (1 = no difference).</p>
<table id="attribution"><tr><th>Value</th><th>Ads</th><th>Impressions</th><th>CTR</th>
<th>Crude OR</th><th>Stratified OR</th><th>95% interval</th><th>CMH p</th><th>Strata</th>
<th>Reversal</th><th>Finding</th><th>Label</th></tr>
{% for r in rows %}<tr><td>{{ r.value }}</td><td>{{ r.n_ads }}</td><td>{{ r.impressions }}</td>
<td>{{ fmt(r.ctr, 4) }}</td><td>{{ fmt(r.crude_odds_ratio) }}</td>
<td>{{ fmt(r.mh_odds_ratio) }}</td><td>{{ fmt(r.mh_ci_lower) }} - {{ fmt(r.mh_ci_upper) }}</td>
<td>{{ fmt(r.cmh_p_value) }}</td><td>{{ r.informative_strata }}/{{ r.n_strata }}</td>
<td class="reversal">{{ "Simpson reversal" if r.reversal else "" }}</td>
<td>{{ r.finding }}<br><span class="muted">{{ r.finding_reason }}</span></td>
<td class="label">{{ r.label }}</td></tr>
{% else %}<tr><td colspan="12">No delivery data for this dimension.</td></tr>{% endfor %}
</table>
<h2>Element scores and their evidence</h2>
<p class="muted">The genome's posterior per value (docs/learning.md#element-scores):
its mean success rate, 95%
interval and the matured ads it rests on. Also correlational.</p>
<table id="element-scores"><tr><th>Value</th><th>Mean</th><th>95% interval</th>
<th>Matured ads</th><th>P(wins draw)</th></tr>
{% for r in scores %}<tr><td>{{ r.value }}</td><td>{{ fmt(r.mean) }}</td>
<td>{{ fmt(r.ci_lower) }} - {{ fmt(r.ci_upper) }}</td><td>{{ r.n_rewards }}</td>
<td>{{ fmt(r.win_probability) }}</td></tr>
{% else %}<tr><td colspan="5">No scores yet.</td></tr>{% endfor %}</table>
{% endblock %}"""

TEMPLATES = {
    "login.html": LOGIN,
    "calibration.html": CALIBRATION,
    "exemplars.html": EXEMPLARS,
    "costs.html": COSTS,
    "attribution.html": ATTRIBUTION,
    "base.html": BASE,
    "index.html": INDEX,
    "scores.html": SCORES,
    "causal.html": CAUSAL,
    "experiments.html": EXPERIMENTS,
    "review.html": REVIEW,
    "alerts.html": ALERTS,
    "v1v2.html": V1V2,
    "fatigue.html": FATIGUE,
    "whitespace.html": WHITESPACE,
}
