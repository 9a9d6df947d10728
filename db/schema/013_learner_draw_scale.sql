-- Tempered Thompson draws (docs/learning.md#win-probabilities, #exploration): the joint
-- learner's win probabilities drawn from its posterior with the deviations scaled: 0.7,
-- chosen on the learning benchmark (docs/learning.md#win-probabilities).

INSERT INTO genome.settings (key, value, description) VALUES
(
    'learner_draw_scale', '0.7',
    'Joint learner: the win probabilities selection draws from are computed from posterior draws MAP + scale * (draw - MAP), the unseen pair cells'' sd scaled alike; 1 is Thompson sampling, below 1 explores less (a sharper posterior), above 1 more; must be positive'
);
