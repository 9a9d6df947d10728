-- The joint learner adjusts for the ads' audience context (docs/learning.md#context): the
-- context dimensions' values (awareness_stage, audience_type) enter its rate stages as
-- nuisance terms, so a hook shown mostly to warm audiences is not credited with their clicks.

INSERT INTO genome.settings (key, value, description) VALUES
(
    'learner_context', '"adjust"',
    'Joint learner: "adjust" (the rate stages carry a term per context value an ad has, awareness_stage and audience_type, so each element value is judged within the same audience and averaged over the brand''s audience mix) or "ignore" (context left out of the model; a confounded audience then reads as an element effect)'
);
