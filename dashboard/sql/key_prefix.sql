-- Ids that start with what support typed (any kind of key), most recently seen first.
SELECT Key AS key, any(KeyKind) AS kind, max(Timestamp) AS last_seen, uniqExact(OrderId) AS orders
FROM {db:Identifier}.biz_keys
WHERE startsWith(Key, {prefix:String})
GROUP BY key
ORDER BY key = {prefix:String} DESC, last_seen DESC
LIMIT {limit:UInt32}
