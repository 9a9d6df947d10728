-- Threshold search for calibrate_quality on the aggregated override matrix (numpy earns its
-- place: every candidate threshold of a check is scored against every override at once).

-- One piece on purpose: a PL/Python body is one module, and its steps are already named
-- functions inside it (approve, errors, pick, column_cost, descend, summary, per_check); as
-- separate SQL functions each would re-read the n x m score matrix from arrays.
CREATE OR REPLACE FUNCTION genome._calibrate_thresholds(
    p_codes text [],
    p_scores double precision [],
    p_ai_approved boolean [],
    p_human_approved boolean [],
    p_weights double precision [],
    p_thresholds double precision [],
    p_hard double precision [],
    p_pass double precision,
    p_check_grid double precision [],
    p_pass_grid double precision [],
    p_fn_weight double precision,
    p_max_sweeps integer
)
RETURNS jsonb
LANGUAGE plpython3u
IMMUTABLE
SET search_path = genome, public
AS $$
import json
import numpy as np

codes = list(p_codes or [])
m = len(codes)
S = np.asarray(p_scores if p_scores is not None else [], dtype=float)
if S.ndim != 2 or S.shape[0] == 0 or S.shape[1] != m:
    plpy.error("scores must be a non-empty n x %d matrix" % m)
n = S.shape[0]
ai = np.asarray(p_ai_approved, dtype=bool)
human = np.asarray(p_human_approved, dtype=bool)
w = np.asarray(p_weights, dtype=float)
t0 = np.asarray(p_thresholds, dtype=float)
hard = np.array([np.nan if h is None else h for h in p_hard], dtype=float)
if not (len(ai) == len(human) == n and len(w) == len(t0) == len(hard) == m):
    plpy.error("array lengths differ")
if not np.all(np.isfinite(S)) or not np.all(np.isfinite(w)) or w.sum() <= 0:
    plpy.error("scores and weights must be finite and the weights positive")
fn_weight = float(p_fn_weight)
pass0 = float(p_pass)

# The config's pass rule, as genome._review_verdict applies it: no hard failure, weighted
# score (3 decimals) at least the pass threshold, every check at least its threshold.
weighted = np.round(S @ w / w.sum(), 3)
hard_fail = np.any(S < np.where(np.isnan(hard), -np.inf, hard), axis=1)


def approve(t, p):
    return ~hard_fail & (weighted >= p) & np.all(S >= t, axis=1)


def errors(a):
    return int(np.sum(~a & human)), int(np.sum(a & ~human))


def pick(cost, cand, parent):
    # Least cost; among equal costs the candidate nearest the parent's value (the smallest
    # change the evidence supports), then the stricter one.
    best = np.flatnonzero(cost <= cost.min() + 1e-9)
    order = sorted(best, key=lambda i: (abs(cand[i] - parent), -cand[i]))
    return float(cand[order[0]])


def column_cost(accept):
    # accept: n x G boolean, the decision under each candidate.
    fp = np.sum(~accept & human[:, None], axis=0)
    fn = np.sum(accept & ~human[:, None], axis=0)
    return fp + fn_weight * fn


check_grid = np.asarray(p_check_grid, dtype=float)
pass_grid = np.asarray(p_pass_grid, dtype=float)


def descend(t, p):
    # Coordinate descent: each check's threshold, then the pass threshold, set to its best
    # candidate with the others held; repeated until a sweep changes nothing.
    t = t.copy()
    sweeps = 0
    for sweeps in range(1, int(p_max_sweeps) + 1):
        changed = False
        for j in range(m):
            passing = S >= t
            others = ~hard_fail & (weighted >= p) & np.all(np.delete(passing, j, axis=1), axis=1)
            cand = np.union1d(check_grid, [t0[j]])
            accept = others[:, None] & (S[:, j][:, None] >= cand[None, :])
            new = pick(column_cost(accept), cand, t0[j])
            if new != t[j]:
                t[j] = new
                changed = True
        base = ~hard_fail & np.all(S >= t, axis=1)
        cand = np.union1d(pass_grid, [pass0])
        accept = base[:, None] & (weighted[:, None] >= cand[None, :])
        new = pick(column_cost(accept), cand, pass0)
        if new != p:
            p = new
            changed = True
        if not changed:
            break
    fp, fn = errors(approve(t, p))
    return t, p, fp + fn_weight * fn, sweeps


# A check threshold alone cannot undo a rule that every check is too strict for (the other
# checks still fail the ad), so the descent starts from the parent's thresholds and also from
# every uniform level of the check grid (each check at that level, the pass threshold at the
# parent's and at the grid's lowest): the best end point wins, ties to the one nearest the
# parent (L1 distance over all thresholds).
starts = [(t0, pass0)]
for level in check_grid:
    starts.append((np.full(m, level), pass0))
    starts.append((np.full(m, level), float(pass_grid.min())))
best = None
for start_t, start_p in starts:
    t, p, cost, sweeps = descend(start_t, start_p)
    key = (round(cost, 9), float(np.abs(t - t0).sum() + abs(p - pass0)))
    if best is None or key < best[0]:
        best = (key, t, p, sweeps)
_, t, p, sweeps = best

n_app = int(human.sum())
n_rej = n - n_app


def rate(k, d):
    return None if d == 0 else k / d


def summary(a):
    fp, fn = errors(a)
    return {
        "fp": fp, "fn": fn,
        "fp_rate": rate(fp, n_app), "fn_rate": rate(fn, n_rej),
        "weighted_error": (fp + fn_weight * fn) / n,
    }


def per_check(thr):
    fail = S < thr
    return {
        "fp_rate": [rate(int(np.sum(fail[:, j] & human)), n_app) for j in range(m)],
        "fn_rate": [rate(int(np.sum(~fail[:, j] & ~human)), n_rej) for j in range(m)],
    }


pb, pa = per_check(t0), per_check(t)
result = {
    "check_thresholds": {codes[j]: float(t[j]) for j in range(m)},
    "weighted_pass_threshold": float(p),
    "sweeps": sweeps,
    "starts": len(starts),
    "n_human_approved": n_app,
    "n_human_rejected": n_rej,
    "fn_weight": fn_weight,
    "observed": summary(ai),
    "before": summary(approve(t0, pass0)),
    "after": summary(approve(t, p)),
    "per_check": {
        codes[j]: {
            "threshold_before": float(t0[j]), "threshold_after": float(t[j]),
            "fp_rate_before": pb["fp_rate"][j], "fn_rate_before": pb["fn_rate"][j],
            "fp_rate_after": pa["fp_rate"][j], "fn_rate_after": pa["fn_rate"][j],
        }
        for j in range(m)
    },
}
return json.dumps(result)
$$;
COMMENT ON FUNCTION genome._calibrate_thresholds(
    text [], double precision [], boolean [], boolean [], double precision [], double precision [],
    double precision [], double precision, double precision [], double precision [], double precision, integer
) IS
'Internal: threshold search of calibrate_quality. p_scores is the n x m matrix of the AI''s check scores (columns p_codes), with the AI''s and the human''s approvals. The decision modelled is the config''s pass rule (no check below its hard-reject threshold, weighted score >= pass threshold, every check >= its threshold). Coordinate descent: each check''s threshold (candidates p_check_grid plus the parent''s value) and then the pass threshold (p_pass_grid plus the parent''s) is set to minimise FP + p_fn_weight * FN over all overrides (FP: rule rejects, human approved; FN: rule approves, human rejected), ties going to the value nearest the parent''s; sweeps repeat until nothing changes (at most p_max_sweeps). The descent starts from the parent''s thresholds and from every uniform level of the check grid (pass threshold at the parent''s and at the grid''s lowest), because lowering one check cannot help while the others still fail an ad; the best end point wins, ties to the one nearest the parent (L1). The parent is a start, so the result never has a higher weighted error than the parent. Returns jsonb: check_thresholds, weighted_pass_threshold, sweeps (of the winning start), starts, and before / after / observed (the stored AI status) {fp, fn, fp_rate (of human-approved), fn_rate (of human-rejected), weighted_error ((fp + w*fn) / n)}, and per_check {threshold_before/after, fp_rate_before/after (human approved, check below threshold), fn_rate_before/after (human rejected, check at or above threshold)}.';
