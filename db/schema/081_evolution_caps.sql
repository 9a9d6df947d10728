-- How many children the scheduled jobs may plan per brand per run: without a cap, a brand
-- with many winners would get a child for every one of them each week.
INSERT INTO genome.settings (key, value, description) VALUES
('evolution_max_per_brand', '3', 'winner_evolution evolves at most this many winners per brand per run (best reward first)'),
('refresh_max_per_brand', '2', 'fatigue_refresh plans at most this many refreshes per brand per run (soonest fatigue first)');
