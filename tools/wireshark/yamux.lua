-- Wireshark dissector for yamux (hashicorp/yamux spec.md, protocol version 0,
-- with the libp2p additions), the stream multiplexer libyamux speaks.
--
--   wireshark -X lua_script:tools/wireshark/yamux.lua -o yamux.tcp_port:7000
--   tshark -X lua_script:tools/wireshark/yamux.lua -d tcp.port==7000,yamux -r f.pcap
--
-- or copy this file into the personal Lua plugins folder (Help > About >
-- Folders). yamux has no well-known port: set one under Preferences >
-- Protocols > YAMUX, or use Decode As on a TCP conversation.
--
-- Each frame shows its header fields, the length field read as the frame
-- type means it (body length, window delta, reset code, ping id, Go Away
-- code), and Data bodies are handed on to sub-dissectors. Protocol violations
-- are expert info: a version other than 0, an unknown type, Data longer than
-- the window the peer has granted on that stream so far (tracked per stream
-- and direction from its SYN on), a window update past 2^32-1.

local yamux = Proto("yamux", "Yamux stream multiplexing")

local HEADER_LEN = 12

local T_DATA, T_WU, T_PING, T_GOAWAY = 0, 1, 2, 3
local F_SYN, F_ACK, F_FIN, F_RST = 0x1, 0x2, 0x4, 0x8

local type_names = {
  [0] = "Data",
  [1] = "Window Update",
  [2] = "Ping",
  [3] = "Go Away",
}
local goaway_names = {
  [0] = "Normal termination",
  [1] = "Protocol error",
  [2] = "Internal error",
}

local pf = {
  version = ProtoField.uint8("yamux.version", "Version", base.DEC),
  type = ProtoField.uint8("yamux.type", "Type", base.DEC, type_names),
  flags = ProtoField.uint16("yamux.flags", "Flags", base.HEX),
  syn = ProtoField.bool("yamux.flags.syn", "SYN", 16, nil, F_SYN),
  ack = ProtoField.bool("yamux.flags.ack", "ACK", 16, nil, F_ACK),
  fin = ProtoField.bool("yamux.flags.fin", "FIN", 16, nil, F_FIN),
  rst = ProtoField.bool("yamux.flags.rst", "RST", 16, nil, F_RST),
  unknown_flags = ProtoField.uint16("yamux.flags.unknown", "Unknown flags",
                                    base.HEX, nil, 0xfff0),
  stream_id = ProtoField.uint32("yamux.stream_id", "Stream ID", base.DEC),
  length = ProtoField.uint32("yamux.length", "Length", base.DEC),
  window_delta = ProtoField.uint32("yamux.window_delta", "Window delta",
                                   base.DEC),
  reset_code = ProtoField.uint32("yamux.reset_code", "Reset code", base.DEC),
  ping_id = ProtoField.uint32("yamux.ping_id", "Ping ID", base.DEC),
  goaway_code = ProtoField.uint32("yamux.goaway_code", "Go Away code",
                                  base.DEC, goaway_names),
  window = ProtoField.uint32("yamux.window",
                             "Send window before this frame", base.DEC),
  body = ProtoField.bytes("yamux.body", "Body"),
}
yamux.fields = {
  pf.version, pf.type, pf.flags, pf.syn, pf.ack, pf.fin, pf.rst,
  pf.unknown_flags, pf.stream_id, pf.length, pf.window_delta, pf.reset_code,
  pf.ping_id, pf.goaway_code, pf.window, pf.body,
}

local ef = {
  bad_version = ProtoExpert.new("yamux.bad_version", "Unsupported version",
                                expert.group.MALFORMED, expert.severity.ERROR),
  bad_type = ProtoExpert.new("yamux.bad_type", "Unknown frame type",
                             expert.group.MALFORMED, expert.severity.ERROR),
  over_window = ProtoExpert.new("yamux.over_window",
                                "Data beyond the stream's window",
                                expert.group.PROTOCOL, expert.severity.ERROR),
  window_overflow = ProtoExpert.new("yamux.window_overflow",
                                    "Window grows past 2^32-1",
                                    expert.group.PROTOCOL,
                                    expert.severity.ERROR),
  goaway_error = ProtoExpert.new("yamux.goaway_error",
                                 "Session ended with an error",
                                 expert.group.RESPONSE_CODE,
                                 expert.severity.WARN),
}
yamux.experts = {
  ef.bad_version, ef.bad_type, ef.over_window, ef.window_overflow,
  ef.goaway_error,
}

yamux.prefs.tcp_port = Pref.uint("TCP port", 0,
  "Decode this TCP port as yamux (0: none; Decode As works on any port)")
yamux.prefs.initial_window = Pref.uint("Initial stream window", 262144,
  "Window each side grants a new stream before any Window Update (bytes)")
yamux.prefs.check_window = Pref.bool("Check stream windows", true,
  "Track each stream's window from its SYN and flag Data beyond it")
yamux.prefs.body_dissector = Pref.string("Data body dissector", "data",
  "Dissector for Data bodies that no yamux heuristic dissector claimed "
  .. "(e.g. http)")

-- Bitwise and: Lua 5.2 has bit32, Wireshark's older builds ship `bit`, Lua
-- 5.3+ has the operator (loaded from a string so that 5.2 still parses
-- this file).
local band
if bit32 then
  band = bit32.band
elseif bit then
  band = bit.band
else
  band = load("return function(a, b) return a & b end")()
end

-- Heuristic sub-dissectors for Data bodies. Where Wireshark lets Lua create
-- a heuristic list (DissectorTable.heuristic_new), dissectors register on
-- "yamux" as on any other list (proto:register_heuristic("yamux", fn)).
-- Everywhere, a Lua script can also add fn(tvb, pinfo, tree) -> bool to the
-- table _G.yamux_heuristics (shared by all scripts; create it if it is not
-- there yet, plugins load in name order). TCP's own list is not offered the
-- bodies: its dissectors claim the whole TCP connection when they match.
local own_heuristics = false
if pcall(function() return DissectorTable.heuristic_new end) then
  own_heuristics = pcall(DissectorTable.heuristic_new, "yamux", yamux)
end
_G.yamux_heuristics = _G.yamux_heuristics or {}

-- Per TCP connection: window state per yamux stream, filled on the first
-- pass in capture order. Per frame: what that pass concluded, so later passes
-- (and clicks in the GUI) show the same thing.
local conns = {}
local verdicts = {}

function yamux.init()
  conns = {}
  verdicts = {}
end

local function flag_names(flags)
  local t = {}
  if band(flags, F_SYN) ~= 0 then t[#t + 1] = "SYN" end
  if band(flags, F_ACK) ~= 0 then t[#t + 1] = "ACK" end
  if band(flags, F_FIN) ~= 0 then t[#t + 1] = "FIN" end
  if band(flags, F_RST) ~= 0 then t[#t + 1] = "RST" end
  if band(flags, 0xfff0) ~= 0 then
    t[#t + 1] = string.format("0x%04x", band(flags, 0xfff0))
  end
  return table.concat(t, ",")
end

-- Window accounting for one frame on the first pass. Returns a verdict
-- table: window (credit before a Data frame), over (Data beyond it),
-- overflow (the window a Window Update pushed past 2^32-1).
local function account(pinfo, ftype, flags, sid, len)
  local v = {}
  if sid == 0 then return v end
  -- The connection is its pair of endpoints (field extractors such as
  -- tcp.stream are not filled on a first pass without a tree).
  local from = tostring(pinfo.src) .. ":" .. tostring(pinfo.src_port)
  local to = tostring(pinfo.dst) .. ":" .. tostring(pinfo.dst_port)
  local ckey = from < to and from .. " " .. to or to .. " " .. from
  local conn = conns[ckey]
  if not conn then
    conn = {}
    conns[ckey] = conn
  end
  local st = conn[sid]
  -- yamux never reuses an id: a SYN on one that is untracked or closed
  -- (reset, or FIN both ways) is a new session on a reused port pair.
  if band(flags, F_SYN) ~= 0 and (ftype == T_DATA or ftype == T_WU) and
      (not st or st.reset or (st.fin[from] and st.fin[to])) then
    local w = yamux.prefs.initial_window
    st = { win = { [from] = w, [to] = w }, fin = {} }
    conn[sid] = st
  end
  if st == nil then
    -- Opened before the capture began: its window is unknown.
    conn[sid] = false
    return v
  end
  if st == false or st.reset then return v end
  if ftype == T_DATA then
    local w = st.win[from]
    v.window = w
    if len > w then
      v.over = true
      st.win[from] = 0
    else
      st.win[from] = w - len
    end
  elseif ftype == T_WU and band(flags, F_RST) == 0 then
    -- The sender of a Window Update grants credit to the other side.
    local w = st.win[to] + len
    if w > 0xffffffff then
      v.overflow = st.win[to]
      w = 0xffffffff
    end
    st.win[to] = w
  end
  if band(flags, F_RST) ~= 0 then st.reset = true end
  if band(flags, F_FIN) ~= 0 then st.fin[from] = true end
  return v
end

local function hand_body(body, pinfo, tree)
  if own_heuristics and
      DissectorTable.try_heuristics("yamux", body, pinfo, tree) then
    return
  end
  for _, h in ipairs(_G.yamux_heuristics) do
    if h(body, pinfo, tree) then return end
  end
  local d = Dissector.get(yamux.prefs.body_dissector) or Dissector.get("data")
  d:call(body, pinfo, tree)
end

-- Frame length on the wire: the header, plus a body only for Data (a frame
-- of an unknown version or type is shown as a bare header).
local function frame_len(tvb, pinfo, offset)
  if tvb(offset, 1):uint() == 0 and tvb(offset + 1, 1):uint() == T_DATA then
    return HEADER_LEN + tvb(offset + 8, 4):uint()
  end
  return HEADER_LEN
end

local function dissect_frame(tvb, pinfo, tree)
  local version = tvb(0, 1):uint()
  local ftype = tvb(1, 1):uint()
  local flags = tvb(2, 2):uint()
  local sid = tvb(4, 4):uint()
  local len = tvb(8, 4):uint()
  local has_body = version == 0 and ftype == T_DATA

  pinfo.cols.protocol = "YAMUX"
  local tname = type_names[ftype] or string.format("Type %d", ftype)
  local fl = flag_names(flags)
  local summary = tname
  if fl ~= "" then summary = summary .. " [" .. fl .. "]" end
  summary = summary .. " sid=" .. sid
  if ftype == T_DATA then
    summary = summary .. " len=" .. len
  elseif ftype == T_WU then
    if band(flags, F_RST) ~= 0 then
      summary = summary .. " code=" .. len
    else
      summary = summary .. " delta=" .. len
    end
  elseif ftype == T_PING then
    summary = summary .. " id=" .. len
  elseif ftype == T_GOAWAY then
    summary = summary .. " code=" .. len
  end
  -- The first frame of a packet replaces TCP's text, the next ones append.
  if pinfo.private.yamux_info == nil then
    pinfo.private.yamux_info = "1"
    pinfo.cols.info:set(summary)
  else
    pinfo.cols.info:append(", " .. summary)
  end

  local ti = tree:add(yamux, tvb(), "Yamux, " .. summary)
  local vi = ti:add(pf.version, tvb(0, 1))
  if version ~= 0 then
    vi:add_proto_expert_info(ef.bad_version,
      string.format("Unsupported version %d (only 0 exists)", version))
  end
  local ty = ti:add(pf.type, tvb(1, 1))
  if not type_names[ftype] then
    ty:add_proto_expert_info(ef.bad_type,
      string.format("Unknown frame type %d", ftype))
  end
  local fi = ti:add(pf.flags, tvb(2, 2))
  fi:append_text(fl ~= "" and " (" .. fl .. ")" or "")
  fi:add(pf.syn, tvb(2, 2))
  fi:add(pf.ack, tvb(2, 2))
  fi:add(pf.fin, tvb(2, 2))
  fi:add(pf.rst, tvb(2, 2))
  if band(flags, 0xfff0) ~= 0 then fi:add(pf.unknown_flags, tvb(2, 2)) end
  ti:add(pf.stream_id, tvb(4, 4))
  local li = ti:add(pf.length, tvb(8, 4))

  if version ~= 0 or not type_names[ftype] then return end

  local key = pinfo.number .. ":" .. tvb:offset() .. ":" .. tvb:len()
  local v = verdicts[key]
  if v == nil then
    if pinfo.visited or not yamux.prefs.check_window then
      v = {}
    else
      v = account(pinfo, ftype, flags, sid, len)
      verdicts[key] = v
    end
  end

  if ftype == T_DATA then
    if v.window then
      local wi = ti:add(pf.window, v.window)
      wi:set_generated()
    end
    if v.over then
      li:add_proto_expert_info(ef.over_window,
        string.format("Data of %d bytes beyond the window of %d bytes",
                      len, v.window))
    end
  elseif ftype == T_WU then
    if band(flags, F_RST) ~= 0 then
      ti:add(pf.reset_code, tvb(8, 4))
    else
      local di = ti:add(pf.window_delta, tvb(8, 4))
      if v.overflow then
        di:add_proto_expert_info(ef.window_overflow,
          string.format("Window of %d bytes plus %d passes 2^32-1",
                        v.overflow, len))
      end
    end
  elseif ftype == T_PING then
    local pi = ti:add(pf.ping_id, tvb(8, 4))
    if band(flags, F_SYN) ~= 0 then
      pi:append_text(" (request)")
    elseif band(flags, F_ACK) ~= 0 then
      pi:append_text(" (reply)")
    end
  elseif ftype == T_GOAWAY then
    local gi = ti:add(pf.goaway_code, tvb(8, 4))
    if len ~= 0 then
      gi:add_proto_expert_info(ef.goaway_error, "Go Away: " ..
        (goaway_names[len] or string.format("code %d", len)))
    end
  end

  if has_body and len > 0 then
    local body = tvb(HEADER_LEN, len)
    ti:add(pf.body, body):set_hidden()
    -- What a sub-dissector writes in the Info column goes after our
    -- summary, in parentheses.
    local info = pinfo.cols.info
    local before = tostring(info)
    info:fence()
    hand_body(body:tvb(), pinfo, tree)
    local after = tostring(info)
    if after ~= before and after:sub(1, #before) == before then
      info:clear_fence()
      info:set(before .. " (" .. after:sub(#before + 1):gsub("^%s+", "")
               :gsub("%s+$", "") .. ")")
      info:fence()
    end
  end
end

local function frame_pdu(tvb, pinfo, tree)
  dissect_frame(tvb, pinfo, tree)
  return tvb:len()
end

function yamux.dissector(tvb, pinfo, tree)
  dissect_tcp_pdus(tvb, tree, HEADER_LEN, frame_len, frame_pdu, true)
  return tvb:len()
end

local tcp_port_table = DissectorTable.get("tcp.port")
tcp_port_table:add_for_decode_as(yamux)

local registered_port = 0
function yamux.prefs_changed()
  if registered_port ~= 0 then
    tcp_port_table:remove(registered_port, yamux)
  end
  registered_port = yamux.prefs.tcp_port
  if registered_port ~= 0 then
    tcp_port_table:add(registered_port, yamux)
  end
end
