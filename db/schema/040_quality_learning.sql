-- Quality learning and the visual space (issue 7): the parameters of threshold calibration,
-- the exemplar library limits, nearest-neighbour search and style clustering, as settings
-- rows; and the bookkeeping style_clusters needs to say which embedding model it clustered
-- and how many members had a matured reward.

INSERT INTO genome.settings (key, value, description) VALUES
(
    'calibration_check_grid', '{"min": 0, "max": 10, "step": 0.5}',
    'Candidate per-check thresholds tried by calibrate_quality (the parent''s value is always a candidate too)'
),
(
    'calibration_pass_grid', '{"min": 4, "max": 9.5, "step": 0.25}',
    'Candidate weighted pass thresholds tried by calibrate_quality (the parent''s value is always a candidate too)'
),
(
    'calibration_max_sweeps', '20',
    'Coordinate-descent sweeps over the thresholds at most (stops earlier when a sweep changes nothing)'
),
('exemplar_limit_gold_approve', '10', 'Active gold_approve exemplars per brand at most'),
('exemplar_limit_gold_reject', '10', 'Active gold_reject exemplars per brand at most'),
('exemplar_limit_edge_case', '10', 'Active edge_case exemplars per brand at most'),
('exemplar_limit_total', '30', 'Active exemplars per brand at most, all types together'),
('knn_max_k', '100', 'Largest k accepted by similar_exemplars and more_like_this'),
(
    'knn_ef_search', '100',
    'hnsw.ef_search for the exemplar and more-like-this searches (candidate list size; recall vs speed)'
),
('style_cluster_eps', '0.12', 'DBSCAN eps for style clusters, as cosine distance (1 - cosine similarity)'),
('style_cluster_min_samples', '3', 'DBSCAN min_samples for style clusters (a core ad needs this many within eps, itself included)'),
('style_cluster_ci_level', '0.95', 'Confidence level of the Student-t interval of a style cluster''s mean matured reward');

ALTER TABLE genome.style_clusters ADD COLUMN embedding_model text;
ALTER TABLE genome.style_clusters ADD COLUMN rewarded_n integer NOT NULL DEFAULT 0
CHECK (rewarded_n >= 0);
COMMENT ON COLUMN genome.style_clusters.embedding_model IS
'The embedding model whose vectors were clustered (only vectors of one model are ever compared).';
COMMENT ON COLUMN genome.style_clusters.rewarded_n IS
'Members with a matured reward at computed_at: the n behind mean_reward and its interval.';
