-- The system at fault of a transaction (an expression over transactions.sql's columns, the one
-- definition both snapshots use): the one expected next for a stuck transaction, the one whose hop
-- failed or dead-lettered, otherwise the last one seen.
multiIf(state = 'stuck', if(next_system != '', next_system, last_system),
        state IN ('failed', 'dead_letter'), trouble_system, last_system)
