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
</style></head>
<body>
<nav>
<a href="/">Brands</a><a href="/review">Review queue</a><a href="/alerts">Alerts</a>
{% if brand %}<span style="color:#999">|</span>
<a href="/brand/{{ brand.id }}/scores">Scores</a>
<a href="/brand/{{ brand.id }}/causal">Causal graph</a>
<a href="/brand/{{ brand.id }}/experiments">Experiments</a>
<a href="/brand/{{ brand.id }}/v1v2">V1 vs V2</a>
<a href="/brand/{{ brand.id }}/fatigue">Fatigue</a>
<a href="/brand/{{ brand.id }}/whitespace">Whitespace</a>{% endif %}
</nav>
<main>
{% if msg %}<p class="msg" id="msg">{{ msg }}</p>{% endif %}
{% for e in errors %}<p class="err">{{ e }}</p>{% endfor %}
<p class="muted">As of {{ now }}{% if brand %} · brand {{ brand.name }}{% if brand.category %}
({{ brand.category }}{% if brand.cross_brand_sharing %}, shares with its category{% endif %})
{% endif %}{% endif %}</p>
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
{% for e, chart in experiments %}
<section class="experiment"><h2>{{ e.name }}</h2>
<p>{{ e.hypothesis }} · variable <b>{{ e.test_variable }}</b> · status <b>{{ e.status }}</b>
· verdict <b class="verdict">{{ e.verdict or "pending" }}</b></p>
<p class="muted">P(best) per arm over the daily analyses (dashed: the 0.9 winner threshold).</p>
{{ chart }}
</section>
{% else %}<p>No experiments for this brand.</p>{% endfor %}
{% endblock %}"""

REVIEW = """{% extends "base.html" %}{% block title %}Review queue{% endblock %}{% block body %}
<h1>Review queue</h1>
<p class="muted">Flagged ads first, then AI decisions no human has looked at. A click records
a human decision (genome.record_override; history is kept).</p>
<table id="review"><tr><th>Ad</th><th>Brand</th><th>AI status</th><th>Score</th><th>Elements</th>
<th>Reason</th><th>Decide</th></tr>
{% for a in ads %}<tr id="ad-{{ a.id }}"><td>{{ a.id|string|truncate(13, true, "") }}</td>
<td>{{ a.brand }}</td><td>{{ a.final_status }}</td><td>{{ fmt(a.score, 2) }}</td>
<td class="muted">{% for k, v in (a.element_tags or {}).items() %}{{ k }}={{ v }} {% endfor %}</td>
<td class="muted">{{ a.decision_reason or "" }}</td>
<td><form class="inline" method="post" action="/review/{{ a.id }}">
<input type="hidden" name="user" value="dashboard">
<input type="text" name="reason" placeholder="reason">
<button type="submit" name="status" value="approved" class="approve">Approve</button>
<button type="submit" name="status" value="rejected" class="reject">Reject</button>
</form></td></tr>{% else %}<tr><td colspan="7">Nothing waiting.</td></tr>{% endfor %}
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
<td>{% if a.status == "active" %}
<form class="inline" method="post" action="/alerts/{{ a.id }}/acknowledge">
<input type="hidden" name="user" value="dashboard">
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

TEMPLATES = {
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
