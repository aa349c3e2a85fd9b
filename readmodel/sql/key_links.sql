-- One step in the key graph: every link of {keys} (biz_links, by its primary key). keygraph.py
-- walks them along LINK_UP; rows repeat until parts merge.
SELECT Key, KeyKind, Linked, LinkedKind
FROM ${links}
WHERE Key IN {keys:Array(String)}
