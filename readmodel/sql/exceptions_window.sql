-- The exceptions of a window's transactions among those of the alert loop's last pass: {found} holds
-- exceptions_found.sql's rows of the pass, the kept snapshot of the same pass (snapshot.sql's columns) says
-- which transactions are the window's. They are those a classification of the window counts
-- (transactions.sql with {since}): started since then, with a hop of their first stage. What a detection
-- of the window finds at the pass's time (exceptions.py: the dashboard's queue beside the loop).
SELECT *
FROM {db:Identifier}.{found:Identifier}
WHERE (process, key) IN (SELECT process, key FROM $kept WHERE started_at >= {since:DateTime64(9)} AND captured)
