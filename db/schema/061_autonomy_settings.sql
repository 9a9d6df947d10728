-- Settings of genome.whitespace added after 060.

INSERT INTO genome.settings (key, value, description) VALUES
('whitespace_min_component_rewards', '5',
 'Each element of a whitespace combination needs at least this much evidence (the brand''s rewards plus the category prior''s peer observations)'),
('whitespace_ci_level', '0.90', 'Level of the predicted-reward interval of genome.whitespace');
