-- snapshot_touched.sql's condition for the spans mapping rules make hops (a span has no stored time of its
-- own): those of the mapped services in no otel_traces part written before the watermark {stored_since}. A
-- part is written once and never changed, so a span stored since is in a part written since; a merge writes
-- old spans again (more computed, none missed). The old parts are the ones excluded, so that a part a merge
-- writes while the statement runs counts as new (listing the new ones instead, it was in neither list).
OR (Mapped AND SpanId IN (
    SELECT SpanId FROM {db:Identifier}.otel_traces
    WHERE ServiceName IN {map_services:Array(String)}
      AND _part NOT IN (SELECT name FROM system.parts WHERE database = {db:String} AND table = 'otel_traces'
                        AND active AND modification_time < {stored_since:DateTime})))
