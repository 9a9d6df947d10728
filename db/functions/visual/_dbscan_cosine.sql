-- DBSCAN over an aggregated embedding matrix with Debian's scikit-learn.

CREATE OR REPLACE FUNCTION genome._dbscan_cosine(
    p_embeddings real [], p_eps double precision, p_min_samples integer
)
RETURNS integer []
LANGUAGE plpython3u
STABLE
SET search_path = genome, public
AS $$
import numpy as np
from sklearn.cluster import DBSCAN

if not p_embeddings:
    return []
# Bounded inside the helper, whoever calls it (docs/security.md#per-role-limits).
plpy.execute(
    plpy.prepare("SELECT genome._require_helper_size($1, $2, $3)", ["text", "bigint", "text"]),
    ["embedding rows", len(p_embeddings), "helper_max_rows"],
)
X = np.asarray(p_embeddings, dtype=float)
if X.ndim != 2:
    plpy.error("embeddings must be an n x d matrix")
if not np.all(np.isfinite(X)) or np.any(np.linalg.norm(X, axis=1) == 0):
    plpy.error("embeddings must be finite and non-zero")
raw = DBSCAN(eps=float(p_eps), min_samples=int(p_min_samples), metric="cosine").fit_predict(X)
# Stable labels: clusters numbered 0, 1, ... by size (largest first), then by first member.
found = [c for c in np.unique(raw) if c >= 0]
found.sort(key=lambda c: (-int(np.sum(raw == c)), int(np.flatnonzero(raw == c)[0])))
relabel = {int(c): i for i, c in enumerate(found)}
return [relabel.get(int(c), -1) for c in raw]
$$;
COMMENT ON FUNCTION genome._dbscan_cosine(real [], double precision, integer) IS
'Internal: DBSCAN labels (scikit-learn, metric cosine: eps is a cosine distance, min_samples counts the point itself) of the rows of an n x d matrix, in row order; -1 is noise; clusters are numbered 0, 1, ... largest first (ties: earliest first member). Empty input gives an empty array. GN031 beyond helper_max_rows rows.';
