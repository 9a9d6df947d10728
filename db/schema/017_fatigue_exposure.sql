-- The audience behind the fatigue's lifetime frequency is now estimated from each day's
-- frequency inverted by Newton's method (detect_fatigue, docs/evolution.md#fatigue): the
-- series it replaces went negative past a daily frequency of 4, and detect_fatigue then
-- failed (exp overflow) on a small, heavily served audience. The stored assessments were
-- made with the series: forget the last call's settings and every row's fingerprint, so the
-- next detect_fatigue reads every mapped ad and assesses each one again.

DELETE FROM genome.fatigue_state;
UPDATE genome.ad_fatigue SET inputs_hash = 0;
