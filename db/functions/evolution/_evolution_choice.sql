-- Variable selection (docs/evolution.md#next-variable): information-gain weighted Thompson sampling.

CREATE OR REPLACE FUNCTION genome._evolution_choice(
    p_dimensions text [],
    p_weights double precision [],
    p_lift_mean double precision [],
    p_lift_sd double precision [],
    p_test_sd double precision,
    p_noise_scale double precision,
    p_seed bigint DEFAULT NULL
)
RETURNS TABLE (
    idx integer,
    information_gain double precision,
    variable_information_gain double precision,
    variable_noise double precision,
    variable_score double precision,
    lift_draw double precision,
    chosen boolean
)
LANGUAGE plpython3u
VOLATILE
SET search_path = genome, public
AS $$
import numpy as np

if p_dimensions is None or len(p_dimensions) == 0:
    plpy.error("there is no variable left to change", sqlstate="GN030")
n = len(p_dimensions)
if any(a is None or len(a) != n for a in (p_weights, p_lift_mean, p_lift_sd)):
    plpy.error("evolution arrays must all have the same length", sqlstate="GN030")
if any(v is None for a in (p_dimensions, p_weights, p_lift_mean, p_lift_sd) for v in a):
    plpy.error("evolution arrays must not contain NULL", sqlstate="GN030")
w = np.asarray(p_weights, dtype=float)
mu = np.asarray(p_lift_mean, dtype=float)
sd = np.asarray(p_lift_sd, dtype=float)
if not (np.all(np.isfinite(w)) and np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))):
    plpy.error("evolution beliefs must be finite", sqlstate="GN030")
if np.any(sd <= 0) or np.any(w < 0):
    plpy.error("lift standard deviations must be positive and weights non-negative", sqlstate="GN030")
if p_test_sd is None or not p_test_sd > 0 or p_noise_scale is None or not p_noise_scale >= 0:
    plpy.error("test_sd must be positive and noise_scale non-negative", sqlstate="GN030")

rng = np.random.default_rng(None if p_seed is None else int(p_seed) & 0xFFFFFFFFFFFFFFFF)
# Expected information (bits) one test of the change gives about its lift: a Gaussian
# belief N(mu, sd^2) observed with noise test_sd.
ig = 0.5 * np.log2(1.0 + sd ** 2 / p_test_sd ** 2)
names, first, inverse = np.unique(np.asarray(p_dimensions, dtype=object), return_index=True,
                                  return_inverse=True)
var_ig = np.bincount(inverse, weights=ig) / np.bincount(inverse)
# Weighted by strategic weight, plus Thompson noise proportional to the uncertainty.
noise = p_noise_scale * var_ig * rng.standard_normal(len(names))
score = w[first] * var_ig + noise
best = int(np.argmax(score))
# Within the chosen variable, a Thompson draw of each value's lift picks the value.
draws = mu + sd * rng.standard_normal(n)
members = np.flatnonzero(inverse == best)
pick = members[int(np.argmax(draws[members]))]
return [
    (i + 1, float(ig[i]), float(var_ig[inverse[i]]), float(noise[inverse[i]]),
     float(score[inverse[i]]), float(draws[i]), bool(i == pick))
    for i in range(n)
]
$$;
COMMENT ON FUNCTION genome._evolution_choice(
    text [], double precision [], double precision [], double precision [], double precision,
    double precision, bigint
) IS
'Internal: picks one (variable, value) among candidate changes (one row each: variable, its strategic weight, mean and sd of the relative-lift belief). Information gain of a change = 1/2 log2(1 + sd^2 / p_test_sd^2) bits; a variable''s gain is the mean over its values; its score = strategic_weight x gain + noise, noise ~ N(0, (p_noise_scale x gain)^2); the highest score picks the variable, then a Thompson draw N(mean, sd^2) per value picks the value. Seeded by p_seed. GN030: no candidates, arrays of different lengths, NULL or non-finite beliefs, sd <= 0, negative weight, test_sd <= 0 or negative noise_scale.';
