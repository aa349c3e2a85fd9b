-- Transaction state per (process, key), derived from biz_hops at the moment it is asked, in
-- one aggregation per transaction. The process definitions arrive as parameters (arrays
-- indexed by process number and stage index), so a process or stage added to the YAML needs
-- no code. Classification:
--   complete    the completion stage (or a later one) was reached by a hop that did not fail
--   dead_letter a hop parked the message in a dead-letter queue, and no stage was reached after
--   failed      a hop ended in ERROR, and no stage was reached after (child spans do not count)
--   stuck       the next stage is overdue against its SLA at {now}
--   in_flight   otherwise
-- A process whose key is reused (`repeats:`, master data) has one transaction per key too: the key's latest
-- cycle (cycles.sql), its hops since the latest hop of its first stage; without such a process the query
-- joins nothing (transactions.py, LATEST_CYCLE).
-- {since}: only transactions whose first stage was reported at or after it (epoch 0: all); their
-- later hops are all after it too, so only hops since then are read. {keys}: only those keys; the
-- hops are then found through biz_keys' primary key instead of a scan.
-- Speed: a stage is known by a number, process number * STAGE_CODE_BASE + stage index, so every
-- per-transaction lookup (stage name, system, SLA) is a transform() on integers, never on strings
-- built per row; what only the full listing needs (every stage's first time, span ids) is computed
-- in columns that a reader such as the alert snapshot does not select, so ClickHouse skips them.
WITH
hops AS (
    SELECT
        transform(BizProcess, {processes:Array(String)}, arrayEnumerate({processes:Array(String)}), toUInt32(0))
            AS process_no,
        BizKey AS key,
        transform(BizProcess, {processes:Array(String)}, {completion_index:Array(UInt16)}, toUInt16(0)) AS hop_completion_index,
        -- per-row lookups go through transform() on a hash: indexing constant arrays per row is slow
        transform(cityHash64(BizProcess, Stage), arrayMap(x -> cityHash64(x.1, x.2), {stage_pairs:Array(Tuple(String, String))}),
                  {stage_pair_index:Array(UInt16)}, toUInt16(0)) AS idx,
        -- a hop in error counts when it is a milestone, says its process, or is a root span: a child span's
        -- error (a retried call inside a hop) is the hop's business, not the transaction's
        (StatusCode = 'Error' AND (Stage != '' OR Process != '' OR ParentSpanId = '')) OR DeadLetter AS trouble,
        -- a hop of the process's value_stage (0: none) that carries an amount and went through (not in error,
        -- not dead-lettered)
        idx > 0 AND idx = transform(BizProcess, {processes:Array(String)}, {value_index:Array(UInt16)}, toUInt16(0))
            AND Amount IS NOT NULL AND went_through AS value_hop,
        Timestamp, Stage, System, SpanId, ErrorType, DeadLetter, Priority, Channel, Amount, Currency, CustomerId,
        -- "the latest" / "the first" hop: by time, then by span id, so that two hops at the same instant (a
        -- delivery and its duplicate) give every reader and every pass the same answer
        bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64) + toUInt128(cityHash64(SpanId)) AS at_order
    FROM ${business_hops}
    ${latest_cycle}
    WHERE BizProcess IN {processes:Array(String)} AND Timestamp <= {now:DateTime64(9)}
      AND Timestamp >= {since:DateTime64(9)}
      AND ${hops_of_keys}
      AND ${in_latest_cycle}
),
per_transaction AS (
    SELECT
        process_no,
        key,
        any(hop_completion_index) AS completion_index,
        min(Timestamp) AS tx_started_at,
        max(Timestamp) AS tx_last_at,
        max(idx) AS stage_index,
        -- the furthest stage a hop reached without failing: a transaction is complete only when its completion
        -- stage was reached so (a payment that ended in ERROR is a failed transaction, not a complete one)
        maxIf(idx, NOT trouble) AS progress_index,
        -- when the furthest stage was first reached: the minimum of (stage descending, time) packed into one
        -- number (a minimum over tuples is several times slower)
        fromUnixTimestamp64Nano(toInt64(bitAnd(
            minIf(bitShiftLeft(toUInt128(65535 - idx), 64) + toUInt128(toUnixTimestamp64Nano(Timestamp)), idx > 0),
            toUInt128(18446744073709551615)))) AS current_stage_at,
        minIf(Timestamp, idx = hop_completion_index AND NOT trouble) AS completion_at,
        -- every stage hop (retries included) as one number, stage index then time, sorted: a stage's first time is
        -- the first number of its index (several times cheaper than tuples filtered per stage)
        -- a hop that failed at its stage did not reach it (its stage SLA is not met by a failure; a retry that
        -- goes through reaches it then)
        arraySort(groupArrayIf(bitShiftLeft(toUInt128(idx), 64) + toUInt128(toUnixTimestamp64Nano(Timestamp)),
                               idx > 0 AND NOT trouble))
            AS reached_sorted,
        maxIf(Timestamp, trouble) AS tx_trouble_at,
        argMaxIf(DeadLetter, at_order, trouble) AS trouble_dead_letter,
        argMaxIf(System, at_order, trouble) AS trouble_system_,
        -- one argMax per column: several times cheaper than one over a tuple of them
        tuple(argMaxIf(ErrorType, at_order, trouble), argMaxIf(SpanId, at_order, trouble),
              argMaxIf(Stage, at_order, trouble)) AS trouble_info,
        maxIf(Timestamp, idx > 0 AND NOT trouble) AS tx_progress_at,
        argMax(SpanId, at_order) AS tx_last_span,
        argMax(System, at_order) AS tx_last_system,
        argMax(Stage, at_order) AS tx_last_stage,
        argMin(System, at_order) AS tx_first_system,
        -- the priority, channel and customer: the first hop's that carries one (a stage hop's, for the priority),
        -- so that every reader, and every pass, picks the same when hops disagree
        if(countIf(Stage != '' AND Priority != '') > 0, argMinIf(Priority, at_order, Stage != '' AND Priority != ''),
           argMin(Priority, at_order)) AS tx_priority,
        argMinIf(Channel, at_order, Channel != '') AS tx_channel,
        -- the customer: a producer may put customer.id on one hop only; '' when none carried one
        argMinIf(CustomerId, at_order, CustomerId != '') AS tx_customer,
        -- the trading partner: the system that reported the capture (first) stage, else the first hop's system
        if(tx_captured, argMinIf(System, at_order, idx = 1), argMin(System, at_order)) AS tx_partner,
        -- the transaction's value (CONVENTIONS, "Machine-readable output"; reconcile_mismatches.sql must agree):
        -- the latest amount its value stage (the system of record's acceptance) reported, else the first amount
        -- seen; NULL when no hop carried one
        if(countIf(value_hop) > 0,
           tuple(argMaxIf(Amount, at_order, value_hop), argMaxIf(Currency, at_order, value_hop)),
           tuple(argMinIf(Amount, at_order, Amount IS NOT NULL), argMinIf(Currency, at_order, Amount IS NOT NULL)))
            AS tx_value,
        count() AS tx_hops,
        -- a hop of its first stage was reported (in ERROR or not): with {since}, only such transactions count
        countIf(idx = 1) > 0 AS tx_captured
    FROM hops
    WHERE key != ''
    GROUP BY process_no, key
    -- with {since}: a transaction counts when its first stage was reported since then
    HAVING {since:DateTime64(9)} = toDateTime64(0, 9) OR tx_captured
),
classified AS (
    SELECT
        *,
        {processes:Array(String)}[process_no] AS process,
        toUInt32(process_no * {stage_code_base:UInt32}) AS process_code,
        transform(process_code + stage_index, {stage_codes:Array(UInt32)}, {index_stage:Array(String)}, '')
            AS current_stage,
        progress_index >= completion_index AND progress_index > 0 AS complete,
        tx_trouble_at > toDateTime64(0, 9) AND tx_trouble_at > tx_progress_at AS in_trouble,
        toUInt32(process_code + stage_index + 1) AS next_code,
        transform(next_code, {stage_codes:Array(UInt32)}, {index_stage:Array(String)}, '') AS next_stage,
        transform(next_code, {stage_codes:Array(UInt32)}, {index_system:Array(String)}, '') AS next_system,
        -- the SLA of the next stage: a contract's (customer, then partner), else the priority's, the channel's,
        -- the stage's own (stage_sla_rows.sql looks it up the same way; an override nobody configured hashes
        -- nothing: its lookup is of the constant 0 in an empty list)
        transform(if(empty({customer_codes:Array(Tuple(UInt32, String))}), 0, cityHash64(next_code, tx_customer)),
                  arrayMap(x -> cityHash64(x.1, x.2), {customer_codes:Array(Tuple(UInt32, String))}),
                  {customer_sla_s:Array(Float64)},
        transform(if(empty({partner_codes:Array(Tuple(UInt32, String))}), 0, cityHash64(next_code, toString(tx_partner))),
                  arrayMap(x -> cityHash64(x.1, x.2), {partner_codes:Array(Tuple(UInt32, String))}),
                  {partner_sla_s:Array(Float64)},
        transform(if(empty({priority_codes:Array(Tuple(UInt32, String))}), 0, cityHash64(next_code, toString(tx_priority))),
                  arrayMap(x -> cityHash64(x.1, x.2), {priority_codes:Array(Tuple(UInt32, String))}),
                  {priority_sla_s:Array(Float64)},
            transform(if(empty({channel_codes:Array(Tuple(UInt32, String))}), 0, cityHash64(next_code, tx_channel)),
                      arrayMap(x -> cityHash64(x.1, x.2), {channel_codes:Array(Tuple(UInt32, String))}),
                      {channel_sla_s:Array(Float64)},
                transform(next_code, {stage_codes:Array(UInt32)}, {index_sla_s:Array(Float64)}, toFloat64(0))))))
            AS next_sla_s,
        transform(next_code, {stage_codes:Array(UInt32)}, {index_since_start:Array(UInt8)}, toUInt8(0)) AS since_start,
        if(since_start, tx_started_at, current_stage_at) AS sla_from,
        -- the clock: the next stage's business calendar (calendars.py; 0: 24x7) counts working time only, from the
        -- next opening when the SLA started after the cut-off (clock.sql)
        transform(next_code, {stage_codes:Array(UInt32)}, {index_calendar:Array(UInt16)}, toUInt16(0)) AS next_calendar,
        ${business_start_ms:next_calendar,sla_from} + toInt64(next_sla_s * 1000) AS due_business_ms,
        if(next_sla_s > 0,
           if(next_calendar = 0, sla_from + toIntervalMillisecond(toInt64(next_sla_s * 1000)),
              ${business_due:next_calendar,due_business_ms}),
           NULL) AS due_at,
        -- the first time each stage was reached: the numbers whose stage index differs from the one before
        arrayFilter((x, before) -> bitShiftRight(x, 64) != bitShiftRight(before, 64),
                    reached_sorted, arrayPopBack(arrayPushFront(reached_sorted, toUInt128(0)))) AS reached_first,
        arrayMap(x -> toUInt16(bitShiftRight(x, 64)), reached_first) AS reached_index,
        arrayMap(x -> fromUnixTimestamp64Nano(toInt64(bitAnd(x, toUInt128(18446744073709551615)))), reached_first)
            AS reached_at
    FROM per_transaction
)
SELECT
    process,
    key,
    multiIf(complete, 'complete', in_trouble AND trouble_dead_letter, 'dead_letter', in_trouble, 'failed',
            ${overdue}, 'stuck', 'in_flight') AS state,
    current_stage,
    current_stage_at,
    next_stage,
    next_system,
    due_at,
    tx_started_at AS started_at,
    if(complete, completion_at, NULL) AS completed_at,
    tx_last_at AS last_at,
    dateDiff('second', tx_started_at, {now:DateTime64(9)}) AS age_s,
    tx_first_system AS first_system,
    tx_last_system AS last_system,
    tx_last_stage AS last_hop_stage,
    tx_last_span AS last_span,
    if(in_trouble, tx_trouble_at, NULL) AS trouble_at,
    if(in_trouble, trouble_info.3, '') AS trouble_stage,
    if(in_trouble, trouble_system_, '') AS trouble_system,
    if(in_trouble, trouble_info.2, '') AS trouble_span,
    if(in_trouble, trouble_info.1, '') AS error_type,
    tx_priority AS priority,
    tx_channel AS channel,
    tx_customer AS customer,
    tx_partner AS partner,
    tx_value.1 AS amount,
    tx_value.2 AS currency,
    tx_hops AS hops,
    tx_captured AS captured,
    arrayMap(i -> transform(process_code + i, {stage_codes:Array(UInt32)}, {index_stage:Array(String)}, ''),
             reached_index) AS stages_reached,
    reached_at AS stages_reached_at
FROM classified
WHERE ({keys:Array(String)} = [] OR has({keys:Array(String)}, key))
  AND ({states:Array(String)} = [] OR has({states:Array(String)}, state))
