-- Test helper for the yamux dissector check (test/integration/wireshark-check.sh): a
-- heuristic sub-dissector that claims every body the yamux dissector hands
-- on and shows its length and Adler-32, so the check can compare the bodies
-- with the bytes the session sent without printing them.
local p = Proto("yxbody", "yamux body (test)")
local f_len = ProtoField.uint32("yxbody.len", "Length", base.DEC)
local f_adler = ProtoField.uint32("yxbody.adler32", "Adler-32", base.HEX)
p.fields = { f_len, f_adler }

local function adler32(s)
  local a, b = 1, 0
  local n = #s
  local i = 1
  -- Reduce every 4096 bytes: a and b stay exact in a double.
  while i <= n do
    local j = math.min(i + 4095, n)
    for k = i, j do
      a = a + s:byte(k)
      b = b + a
    end
    a = a % 65521
    b = b % 65521
    i = j + 1
  end
  return b * 65536 + a
end

local function heur(tvb, pinfo, tree)
  local s = tvb:raw()
  local t = tree:add(p, tvb())
  t:add(f_len, tvb:len()):set_generated()
  t:add(f_adler, adler32(s)):set_generated()
  return true
end

-- Where Wireshark lets Lua create heuristic lists, on yamux's own; else
-- through the table the yamux dissector offers for that.
if not pcall(p.register_heuristic, p, "yamux", heur) then
  _G.yamux_heuristics = _G.yamux_heuristics or {}
  table.insert(_G.yamux_heuristics, heur)
end
