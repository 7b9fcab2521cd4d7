" Headless syntax test for editors/vim.  Run through editors/vim/test/run.sh.
" Every assertion prints one line; any failure makes Vim exit non-zero (:cquit).
let s:dir = expand('<sfile>:p:h')
let s:out = empty($WMAP_VIM_TEST_OUT) ? s:dir . '/results.txt' : $WMAP_VIM_TEST_OUT
let &runtimepath = fnamemodify(s:dir, ':h') . ',' . &runtimepath
filetype plugin on
syntax on
execute 'edit' fnameescape(s:dir . '/sample.wmap')

let s:results = []
let s:failures = 0

function! s:Report(ok, msg) abort
  call add(s:results, (a:ok ? 'ok   ' : 'FAIL ') . a:msg)
  if !a:ok
    let s:failures += 1
  endif
endfunction

function! s:Eq(what, actual, expected) abort
  call s:Report(a:actual ==# a:expected, printf('%s: %s (expected %s)', a:what, string(a:actual), string(a:expected)))
endfunction

" The standard highlight group a wmap group is linked to (following wmap* -> wmap* links).
" Colour-scheme independent, unlike synIDtrans() (e.g. Vim links String to Constant, Neovim does not).
function! s:StdGroup(name) abort
  let name = a:name
  for _ in range(10)
    if name !~# '^wmap'
      return name
    endif
    let m = matchlist(execute('highlight ' . name), 'links to \(\w\+\)')
    if empty(m)
      return ''
    endif
    let name = m[1]
  endfor
  return ''
endfunction

" Expect(line, needle, group, std [, occurrence])
"   line:   literal text identifying the first line of sample.wmap that contains it
"   needle: literal text on that line; the assertion is made at its first column
"           (its occurrence-th occurrence, default 1)
"   group:  expected syntax group at that column (synID name; '' for no highlighting)
"   std:    expected standard group it is linked to (Keyword, String, Special, Function, ...)
function! s:Expect(line, needle, group, std, ...) abort
  let occ = a:0 ? a:1 : 1
  let lnum = 0
  for l in range(1, line('$'))
    if stridx(getline(l), a:line) >= 0
      let lnum = l
      break
    endif
  endfor
  let col = -1
  if lnum > 0
    for _ in range(occ)
      let col = stridx(getline(lnum), a:needle, col + 1)
      if col < 0 | break | endif
    endfor
  endif
  if lnum == 0 || col < 0
    call s:Report(0, printf('%s / %s: not found in sample.wmap', string(a:line), string(a:needle)))
    return
  endif
  let id = synID(lnum, col + 1, 1)
  let name = synIDattr(id, 'name')
  let std = s:StdGroup(name)
  let trans = synIDattr(synIDtrans(id), 'name')
  let ok = name ==# a:group && std ==# a:std
  call s:Report(ok, printf('%d:%d %-22s %-17s -> %-12s [%s]%s',
        \ lnum, col + 1, string(a:needle), name, std, trans,
        \ ok ? '' : printf('  expected %s -> %s', a:group, a:std)))
endfunction

" --- filetype detection and ftplugin
call s:Eq('filetype', &filetype, 'wmap')
call s:Eq('b:current_syntax', get(b:, 'current_syntax', ''), 'wmap')
call s:Eq('commentstring', &commentstring, '# %s')
call s:Eq('comments', &comments, ':#')

" --- comments
call s:Expect('# Sample used by', '# Sample', 'wmapComment', 'Comment')
call s:Expect('# TODO keep', 'TODO', 'wmapTodo', 'Todo')
call s:Expect('wmap 1 ', '# optional version', 'wmapComment', 'Comment')
call s:Expect('"after.{i}"', '"not a string"', 'wmapComment', 'Comment')
call s:Expect('"after.{i}"', 'drop', 'wmapComment', 'Comment', 2)
call s:Expect('# reach nested keys', 'config', 'wmapComment', 'Comment')

" --- statement keywords
call s:Expect('wmap 1 ', 'wmap', 'wmapHeader', 'Keyword')
call s:Expect('wmap 1 ', '1', 'wmapVersion', 'Number')
call s:Expect('target gpt2', 'target', 'wmapKeyword', 'Keyword')
call s:Expect('target gpt2', 'gpt2', 'wmapTargetName', 'Constant')
call s:Expect('target "layouts/meta', 'target', 'wmapKeyword', 'Keyword')
call s:Expect('target "layouts/meta', 'layouts', 'wmapString', 'String')
call s:Expect('use "std/torch"', 'use', 'wmapKeyword', 'Keyword')
call s:Expect('let heads', 'let', 'wmapKeyword', 'Keyword')
call s:Expect('let heads', 'heads', 'wmapLetName', 'Identifier')
call s:Expect('words burn_norm', 'words', 'wmapKeyword', 'Keyword')
call s:Expect('words burn_norm', 'burn_norm', 'wmapLetName', 'Identifier')
call s:Expect('cast bf16 -> f32', 'cast', 'wmapKeyword', 'Keyword')
call s:Expect('drop "transformer.h.{i}.attn.bias"', 'drop', 'wmapKeyword', 'Keyword')
call s:Expect('optional drop "embeddings', 'optional', 'wmapKeyword', 'Keyword')
call s:Expect('optional drop "embeddings', 'drop', 'wmapKeyword', 'Keyword')
call s:Expect('optional "model.layers', 'optional', 'wmapKeyword', 'Keyword')
call s:Expect('tie "lm_head', 'tie', 'wmapKeyword', 'Keyword')
call s:Expect('fallback "{name:**}"', 'fallback', 'wmapKeyword', 'Keyword')
call s:Expect('op unpermute_rotary', 'op', 'wmapKeyword', 'Keyword')
call s:Expect('regex "^bert', 'regex', 'wmapKeyword', 'Keyword')
call s:Expect('optional regex "^h', 'optional', 'wmapKeyword', 'Keyword')
call s:Expect('optional regex "^h', 'regex', 'wmapKeyword', 'Keyword')
" keywords inside strings are not keywords
call s:Expect('"after.{i}"', 'drop', 'wmapString', 'String')

" --- strings, escapes and captures
call s:Expect('use "std/torch"', 'std/torch', 'wmapString', 'String')
call s:Expect('"transformer.wte.weight"', 'transformer', 'wmapString', 'String')
call s:Expect('"transformer.h.{i}.ln_1', '.ln_1', 'wmapString', 'String')
call s:Expect('"transformer.h.{i}.ln_1', '{', 'wmapCaptureDelim', 'Delimiter')
call s:Expect('"transformer.h.{i}.ln_1', 'i}', 'wmapCaptureName', 'Special')
call s:Expect('"transformer.h.{i}.ln_1', '}', 'wmapCaptureDelim', 'Delimiter')
call s:Expect('"transformer.h.{i}.ln_1', 'blocks', 'wmapString', 'String')
call s:Expect('"transformer.h.{i}.ln_1', '{i}', 'wmapCaptureDelim', 'Delimiter', 2)
call s:Expect('"seg.{rest:*}.w"', 'rest', 'wmapCaptureName', 'Special')
call s:Expect('"seg.{rest:*}.w"', ':', 'wmapCaptureDelim', 'Delimiter')
call s:Expect('"seg.{rest:*}.w"', '*', 'wmapCaptureKind', 'Operator')
call s:Expect('"seg.{rest:*}.w"', '.w', 'wmapString', 'String')
call s:Expect('fallback "{name:**}"', 'name', 'wmapCaptureName', 'Special')
call s:Expect('fallback "{name:**}"', '**', 'wmapCaptureKind', 'Operator')
call s:Expect('fallback "{name:**}"', '*}', 'wmapCaptureKind', 'Operator')
call s:Expect('"attn.{p:query|key|value}.w"', 'p:', 'wmapCaptureName', 'Special')
call s:Expect('"attn.{p:query|key|value}.w"', 'query', 'wmapCaptureAlt', 'Constant')
call s:Expect('"attn.{p:query|key|value}.w"', '|', 'wmapCaptureSep', 'Delimiter')
call s:Expect('"attn.{p:query|key|value}.w"', 'key', 'wmapCaptureAlt', 'Constant')
call s:Expect('"attn.{p:query|key|value}.w"', 'value', 'wmapCaptureAlt', 'Constant')
call s:Expect('"attn.{p:query|key|value}.w"', '_proj', 'wmapString', 'String')
call s:Expect('"h.{i}.w" -> [', 'i +', 'wmapCaptureName', 'Special')
call s:Expect('"h.{i}.w" -> [', '+', 'wmapCaptureOp', 'Operator')
call s:Expect('"h.{i}.w" -> [', '1}', 'wmapCaptureNum', 'Number')
call s:Expect('"h.{i}.w" -> [', '- 1', 'wmapCaptureOp', 'Operator')
call s:Expect('"esc\"aped', '\"', 'wmapEscape', 'SpecialChar')
call s:Expect('"esc\"aped', '\\', 'wmapEscape', 'SpecialChar')
call s:Expect('"esc\"aped', 'still', 'wmapString', 'String')
call s:Expect('"esc\"aped', '\d', 'wmapString', 'String')
call s:Expect('"esc\"aped', 'i}', 'wmapCaptureName', 'Special')
call s:Expect('"esc\"aped', '"x"', 'wmapString', 'String')

" --- regex rules and templates
call s:Expect('regex "^bert', '"^', 'wmapRegex', 'String')
call s:Expect('regex "^bert', '^', 'wmapRegexMeta', 'Special')
call s:Expect('regex "^bert', 'bert', 'wmapRegex', 'String')
call s:Expect('regex "^bert', '\.', 'wmapRegexEscape', 'SpecialChar')
call s:Expect('regex "^bert', '(', 'wmapRegexMeta', 'Special')
call s:Expect('regex "^bert', '\d', 'wmapRegexEscape', 'SpecialChar')
call s:Expect('regex "^bert', '+', 'wmapRegexMeta', 'Special')
call s:Expect('regex "^bert', '|', 'wmapRegexMeta', 'Special')
call s:Expect('regex "^bert', '->', 'wmapOperator', 'Operator')
call s:Expect('regex "^bert', 'layers.', 'wmapTemplate', 'String')
call s:Expect('regex "^bert', '$1', 'wmapTemplateRef', 'Special')
call s:Expect('regex "^bert', '$2', 'wmapTemplateRef', 'Special')
call s:Expect('optional regex "^h', '(?P<layer>', 'wmapRegexGroup', 'Special')
call s:Expect('optional regex "^h', '[^.]', 'wmapRegexClass', 'Special')
call s:Expect('optional regex "^h', '{1,2}', 'wmapRegexMeta', 'Special')
call s:Expect('    | transpose', 'transpose', 'wmapBuiltin', 'Function')
call s:Expect('# comment inside a continued rule', '#', 'wmapComment', 'Comment')
call s:Expect('-> ["blk.${layer}.w"', '${layer}', 'wmapTemplateRef', 'Special')
call s:Expect('"blk.$1.w"]', '$1', 'wmapTemplateRef', 'Special')
call s:Expect('"blk.$1.w"]', 'blk', 'wmapTemplate', 'String')
" the rule is over: ordinary strings and captures again, `$1` means nothing outside regex rules
call s:Expect('"after.{i}"', 'i}', 'wmapCaptureName', 'Special')
call s:Expect('"transformer.h.{i}.attn.bias"', 'transformer', 'wmapString', 'String')

" --- ops, pipelines, arguments
call s:Expect('| transpose -> "blocks', '|', 'wmapPipe', 'Operator')
call s:Expect('| transpose -> "blocks', 'transpose', 'wmapBuiltin', 'Function')
call s:Expect('| transpose -> "blocks', '->', 'wmapOperator', 'Operator')
call s:Expect('    | split(axis=1, parts=3)', 'split', 'wmapBuiltin', 'Function')
call s:Expect('    | split(axis=1, parts=3)', '(', 'wmapDelimiter', 'Delimiter')
call s:Expect('    | split(axis=1, parts=3)', 'axis', 'wmapNamedArg', 'Identifier')
call s:Expect('    | split(axis=1, parts=3)', '=', 'wmapOperator', 'Operator')
call s:Expect('    | split(axis=1, parts=3)', 'parts', 'wmapNamedArg', 'Identifier')
call s:Expect('    | split(axis=1, parts=3)', '3', 'wmapNumber', 'Number')
call s:Expect('    | concat(axis=0) -> "layers', 'concat', 'wmapBuiltin', 'Function')
call s:Expect('| stack(e, axis=0) -> "layers.{i}.moe.w1"', 'stack', 'wmapBuiltin', 'Function')
call s:Expect('"layers.{i}.moe.w1" | unstack', 'unstack', 'wmapBuiltin', 'Function')
call s:Expect('| unpermute_rotary(heads)', 'unpermute_rotary', 'wmapOpCall', 'Function')
call s:Expect('| unpermute_rotary(heads)', 'heads', '', '')
call s:Expect('"w" | cast(bf16)', 'cast', 'wmapCastOp', 'Function')
call s:Expect('"w" | cast(bf16)', 'bf16', 'wmapDtype', 'Type')
call s:Expect('"w" | cast(bf16)', 'add', 'wmapBuiltin', 'Function')
call s:Expect('"w" | cast(bf16)', 'mul', 'wmapBuiltin', 'Function')
call s:Expect('"w" | cast(bf16)', 'reshape', 'wmapBuiltin', 'Function')
call s:Expect('"w" | cast(bf16)', 'my_fix', 'wmapOpStage', 'Function')
call s:Expect('"w" | split(axis=0, sizes', 'sizes', 'wmapNamedArg', 'Identifier')
call s:Expect('"w" | split(axis=0, sizes', 'slice', 'wmapBuiltin', 'Function')
call s:Expect('"w" | split(axis=0, sizes', 'start', 'wmapNamedArg', 'Identifier')
call s:Expect('"w" | split(axis=0, sizes', 'end', 'wmapNamedArg', 'Identifier')
call s:Expect('op unpermute_rotary', 'unpermute_rotary', 'wmapOpName', 'Function')
call s:Expect('op unpermute_rotary', 'h)', 'wmapParam', 'Identifier')
call s:Expect('op unpermute_rotary', 'reshape', 'wmapBuiltin', 'Function')
call s:Expect('op unpermute_rotary', 'shape[0]', 'wmapShape', 'Keyword')
call s:Expect('op unpermute_rotary', '[', 'wmapDelimiter', 'Delimiter')
call s:Expect('op unpermute_rotary', '/', 'wmapOperator', 'Operator')

" --- dtypes
call s:Expect('cast bf16 -> f32', 'bf16', 'wmapDtype', 'Type')
call s:Expect('cast bf16 -> f32', 'f32', 'wmapDtype', 'Type')
call s:Expect('cast float -> f16', 'float', 'wmapDtypeClass', 'Type')
call s:Expect('let dtypes', 'bool', 'wmapDtype', 'Type')
call s:Expect('let dtypes', 'u8', 'wmapDtype', 'Type')
call s:Expect('let dtypes', 'f8_e4m3', 'wmapDtype', 'Type')
call s:Expect('let dtypes', 'f8_e5m2', 'wmapDtype', 'Type')
call s:Expect('let dtypes', 'u64', 'wmapDtype', 'Type')
call s:Expect('let packed', 'f4', 'wmapDtype', 'Type')
call s:Expect('let packed', 'f6_e2m3', 'wmapDtype', 'Type')
call s:Expect('let packed', 'f8_e8m0', 'wmapDtype', 'Type')
call s:Expect('let packed', 'f8_e5m2fnuz', 'wmapDtype', 'Type')
call s:Expect('let packed', 'c64', 'wmapDtype', 'Type')

" --- numbers
call s:Expect('"w" | cast(bf16)', '1.0', 'wmapFloat', 'Float')
call s:Expect('"w" | cast(bf16)', '0.5', 'wmapFloat', 'Float')
call s:Expect('"w" | cast(bf16)', '1e-6', 'wmapFloat', 'Float')
call s:Expect('"w" | cast(bf16)', '-1', 'wmapNumber', 'Number')
call s:Expect('"w" | split(axis=0, sizes', '1024', 'wmapNumber', 'Number')

" --- config paths and operators
call s:Expect('let heads', 'config', 'wmapConfig', 'Keyword')
call s:Expect('let heads', '.num_attention_heads', 'wmapConfigPath', 'Identifier')
call s:Expect('let factor', 'factor', 'wmapConfigPath', 'Identifier', 2)
call s:Expect('let kv_heads', '??', 'wmapOperator', 'Operator')
call s:Expect('let kv_heads', 'heads ', '', '', 3)
call s:Expect('let head_dim', '/', 'wmapOperator', 'Operator')
call s:Expect('tie "lm_head', '=', 'wmapOperator', 'Operator')

" --- make rules
" identifiers inside a make rule are not highlighted: their group is the (unlinked) region they are in
let s:l = 'make zeros(shape=[dim], dtype=f32)'
call s:Expect(s:l, 'make', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'zeros', 'wmapBuiltin', 'Function')
call s:Expect(s:l, '(', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, 'shape', 'wmapNamedArg', 'Identifier')
call s:Expect(s:l, '=', 'wmapOperator', 'Operator')
call s:Expect(s:l, 'dim', 'wmapMakeList', '')
call s:Expect(s:l, 'dtype', 'wmapNamedArg', 'Identifier')
call s:Expect(s:l, 'f32', 'wmapDtype', 'Type')
call s:Expect(s:l, '->', 'wmapOperator', 'Operator')
call s:Expect(s:l, 'model.layers', 'wmapString', 'String')
call s:Expect(s:l, 'i}', 'wmapCaptureName', 'Special')
call s:Expect(s:l, 'for', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'i in', 'wmapMakeVar', 'Special')
call s:Expect(s:l, 'in 0', 'wmapMakeIn', 'Keyword')
call s:Expect(s:l, '0..', 'wmapNumber', 'Number')
call s:Expect(s:l, '..', 'wmapRange', 'Operator')
call s:Expect(s:l, 'layers', 'wmapMakeFor', '', 2)
let s:l = 'make ones like'
call s:Expect(s:l, 'make', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'ones', 'wmapBuiltin', 'Function')
call s:Expect(s:l, 'like', 'wmapMakeLike', 'Keyword')
call s:Expect(s:l, 'model.layers', 'wmapString', 'String')
call s:Expect(s:l, 'i}', 'wmapCaptureName', 'Special')
call s:Expect(s:l, '|', 'wmapPipe', 'Operator')
call s:Expect(s:l, 'mul', 'wmapBuiltin', 'Function')
call s:Expect(s:l, '0.5', 'wmapFloat', 'Float')
call s:Expect(s:l, '->', 'wmapOperator', 'Operator')
call s:Expect(s:l, '.extra', 'wmapString', 'String')
let s:l = 'make full(2, shape=[shape[0], 3])'
call s:Expect(s:l, 'make', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'full', 'wmapBuiltin', 'Function')
call s:Expect(s:l, '2', 'wmapNumber', 'Number')
call s:Expect(s:l, 'shape', 'wmapNamedArg', 'Identifier')
call s:Expect(s:l, 'shape', 'wmapShape', 'Keyword', 2)
call s:Expect(s:l, '0]', 'wmapNumber', 'Number')
call s:Expect(s:l, '3', 'wmapNumber', 'Number')
call s:Expect(s:l, ']', 'wmapDelimiter', 'Delimiter', 2)
call s:Expect(s:l, ')', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, 'like', 'wmapMakeLike', 'Keyword')
call s:Expect(s:l, 'model.norm.weight', 'wmapString', 'String')
call s:Expect(s:l, 'made.full', 'wmapString', 'String')
let s:l = 'optional make zeros like "lm_head.bias"'
call s:Expect(s:l, 'optional', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'make', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'zeros', 'wmapBuiltin', 'Function')
call s:Expect(s:l, 'like', 'wmapMakeLike', 'Keyword')
call s:Expect(s:l, 'lm_head', 'wmapString', 'String')
call s:Expect(s:l, 'e}', 'wmapCaptureName', 'Special')
call s:Expect(s:l, 'for', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'e in', 'wmapMakeVar', 'Special')
call s:Expect(s:l, 'in 0', 'wmapMakeIn', 'Keyword')
call s:Expect(s:l, '0..', 'wmapNumber', 'Number')
call s:Expect(s:l, '..', 'wmapRange', 'Operator')
call s:Expect(s:l, 'config', 'wmapConfig', 'Keyword')
call s:Expect(s:l, '.num_experts', 'wmapConfigPath', 'Identifier')
call s:Expect(s:l, ', j', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, 'j in', 'wmapMakeVar', 'Special')
call s:Expect(s:l, 'in 1', 'wmapMakeIn', 'Keyword')
call s:Expect(s:l, '1..', 'wmapNumber', 'Number')
call s:Expect(s:l, '..4', 'wmapRange', 'Operator')
call s:Expect(s:l, '4', 'wmapRangeEnd', 'Number')
call s:Expect('optional make my_fill', 'optional', 'wmapKeyword', 'Keyword')
call s:Expect('optional make my_fill', 'make', 'wmapKeyword', 'Keyword')
call s:Expect('optional make my_fill', 'my_fill', 'wmapMakeFill', 'Function')
" a make rule over several lines: open ( and [, continuation lines, a multi-line target list
call s:Expect('    shape=[dim,', 'shape', 'wmapNamedArg', 'Identifier')
call s:Expect('           (dim + 1)],', '+', 'wmapOperator', 'Operator')
call s:Expect('    dtype=f32) like', 'dtype', 'wmapNamedArg', 'Identifier')
call s:Expect('    dtype=f32) like', 'like', 'wmapMakeLike', 'Keyword')
call s:Expect('    dtype=f32) like', 'x:', 'wmapCaptureName', 'Special')
call s:Expect('    dtype=f32) like', '.like', 'wmapString', 'String')
call s:Expect('    | mul(2)', 'mul', 'wmapBuiltin', 'Function')
call s:Expect('# comment inside a make rule', '#', 'wmapComment', 'Comment')
call s:Expect('    -> ["b.{x}.{i}",', '->', 'wmapOperator', 'Operator')
call s:Expect('"c.{x}.{i}"] for', 'c.', 'wmapString', 'String')
call s:Expect('"c.{x}.{i}"] for', ']', 'wmapDelimiter', 'Delimiter')
call s:Expect('"c.{x}.{i}"] for', 'for', 'wmapKeyword', 'Keyword')
call s:Expect('"c.{x}.{i}"] for', 'in', 'wmapMakeIn', 'Keyword')
call s:Expect('"c.{x}.{i}"] for', '0', 'wmapNumber', 'Number')
call s:Expect('"c.{x}.{i}"] for', '..', 'wmapRange', 'Operator')
call s:Expect('"c.{x}.{i}"] for', 'config', 'wmapConfig', 'Keyword')
" the make rule is over
call s:Expect('"after.for.in"', 'after.for.in', 'wmapString', 'String')
call s:Expect('for i in 0..2', 'for', '', '')
call s:Expect('for i in 0..2', 'in', '', '', 1)

" --- also rules
let s:l = 'also "model.embed_tokens.weight"'
call s:Expect(s:l, 'also', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'model.embed_tokens', 'wmapString', 'String')
call s:Expect(s:l, '|', 'wmapPipe', 'Operator')
call s:Expect(s:l, 'pad', 'wmapBuiltin', 'Function')
call s:Expect(s:l, 'axis', 'wmapNamedArg', 'Identifier')
call s:Expect(s:l, '0', 'wmapNumber', 'Number')
call s:Expect(s:l, 'after', 'wmapNamedArg', 'Identifier')
call s:Expect(s:l, '24', 'wmapNumber', 'Number')
call s:Expect(s:l, 'fill', 'wmapNamedArg', 'Identifier')
call s:Expect(s:l, 'mean', 'wmapFillMean', 'Constant')
call s:Expect(s:l, '->', 'wmapOperator', 'Operator')
call s:Expect(s:l, 'bigger.embed', 'wmapString', 'String')
let s:l = 'optional also ["a.{i}"'
call s:Expect(s:l, 'optional', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'also', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, '[', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, 'a.', 'wmapString', 'String')
call s:Expect(s:l, 'i}', 'wmapCaptureName', 'Special')
call s:Expect(s:l, 'concat', 'wmapBuiltin', 'Function')
call s:Expect(s:l, 'ab.', 'wmapString', 'String')

" --- for / in / like / make / also: not in patterns, comments or longer names
let s:l = 'make zeros like "model.for.in.like"'
call s:Expect(s:l, 'like', 'wmapMakeLike', 'Keyword')
call s:Expect(s:l, 'for.in.like', 'wmapString', 'String')
call s:Expect(s:l, 'in.like"', 'wmapString', 'String')
call s:Expect(s:l, 'like"', 'wmapString', 'String')
call s:Expect(s:l, 'x.for.in.like', 'wmapString', 'String')
call s:Expect(s:l, 'for i', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'in inner', 'wmapMakeIn', 'Keyword')
call s:Expect(s:l, 'inner', 'wmapMakeFor', '')
call s:Expect(s:l, 'nner', 'wmapMakeFor', '')
call s:Expect(s:l, 'format', 'wmapMakeFor', '')
call s:Expect(s:l, 'mat', 'wmapMakeFor', '')
call s:Expect(s:l, '# like for in', 'wmapComment', 'Comment')
call s:Expect(s:l, 'for in', 'wmapComment', 'Comment')
let s:l = 'make full(inner, shape=[format, likely])'
" a comment after a for clause does not carry the rule over to the next statement
call s:Expect(s:l, 'make', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'inner', 'wmapMakeGroup', '')
call s:Expect(s:l, 'format', 'wmapMakeList', '')
call s:Expect(s:l, 'likely', 'wmapMakeList', '')
call s:Expect(s:l, 'for j', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'in 0', 'wmapMakeIn', 'Keyword')
call s:Expect(s:l, 'informal', 'wmapMakeFor', '')
call s:Expect(s:l, 'formal', 'wmapMakeFor', '')
let s:l = '"model.for.in.like.x" | add(format)'
call s:Expect(s:l, 'for.in.like', 'wmapString', 'String')
call s:Expect(s:l, 'format', '', '')
call s:Expect(s:l, 'make.also', 'wmapString', 'String')
call s:Expect(s:l, 'also.{i}', 'wmapString', 'String')
call s:Expect(s:l, '# for in like', 'wmapComment', 'Comment')
call s:Expect('makes "m"', 'makes', '', '')
call s:Expect('also_x "m"', 'also_x', '', '')

" --- use .. under
let s:l = 'use "./text.wmap" under'
call s:Expect(s:l, 'use', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, './text.wmap', 'wmapString', 'String')
call s:Expect(s:l, 'under', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'language_model.', 'wmapString', 'String')
let s:l = 'use "mappings/llama/hf-to-burn.wmap" under'
call s:Expect(s:l, 'under', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, '->', 'wmapOperator', 'Operator')
call s:Expect(s:l, 'text.', 'wmapString', 'String')
call s:Expect(s:l, '# under', 'wmapComment', 'Comment')
call s:Expect(s:l, 'under a', 'wmapComment', 'Comment')

" --- when
let s:l = '"model.embed_tokens.weight" | pad(axis=0, after=8) -> "model.embed_tokens.weight" when'
call s:Expect(s:l, 'pad', 'wmapBuiltin', 'Function')
call s:Expect(s:l, 'when', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'config', 'wmapConfig', 'Keyword')
call s:Expect(s:l, '.add_tokens', 'wmapConfigPath', 'Identifier')
call s:Expect(s:l, '??', 'wmapOperator', 'Operator')
call s:Expect(s:l, '0', 'wmapNumber', 'Number', 2)
let s:l = 'optional "lm_head.weight" -> ["out.weight", "out.copy"] when zeros'
call s:Expect(s:l, 'optional', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, ']', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, 'when', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'zeros', 'wmapBuiltin', 'Function')
" `when` and `under` are keywords only in their place
let s:l = '"model.under.when" -> "whenever.{i}"'
call s:Expect(s:l, 'under.when', 'wmapString', 'String')
call s:Expect(s:l, 'when"', 'wmapString', 'String')
call s:Expect(s:l, 'whenever', 'wmapString', 'String')
call s:Expect(s:l, '# when under', 'wmapComment', 'Comment')
call s:Expect(s:l, 'when under', 'wmapComment', 'Comment')
call s:Expect('let whence = when_x', 'whence', 'wmapLetName', 'Identifier')
call s:Expect('let whence = when_x', 'when_x', '', '')
let s:l = 'make zeros like "lm_head.bias" -> "made.when" for e'
call s:Expect(s:l, 'made.when', 'wmapString', 'String')
call s:Expect(s:l, 'for', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'experts', 'wmapMakeFor', '')
call s:Expect(s:l, 'when 1', 'wmapMakeWhen', 'Keyword')
call s:Expect(s:l, '1 -', 'wmapNumber', 'Number')
call s:Expect(s:l, '-', 'wmapOperator', 'Operator', 2)
call s:Expect(s:l, '# when', 'wmapComment', 'Comment')
let s:l = '"a.{i}" -> "b.{i}"when(1 - zeros)'
call s:Expect(s:l, 'when', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, '(', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, '1', 'wmapNumber', 'Number')
let s:l = 'make ones like "a.{i}" -> "b.{i}" when means'
call s:Expect(s:l, 'like', 'wmapMakeLike', 'Keyword')
call s:Expect(s:l, 'when', 'wmapMakeWhen', 'Keyword')
call s:Expect(s:l, 'means', 'wmapMakeTargets', '')

" --- write
let s:l = 'write "params.json" {'
call s:Expect(s:l, 'write', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'params.json', 'wmapPlainString', 'String')
call s:Expect(s:l, '{', 'wmapDelimiter', 'Delimiter')
call s:Expect('    dim = config.hidden_size', 'dim', 'wmapWriteKey', 'Identifier')
call s:Expect('    dim = config.hidden_size', '=', 'wmapOperator', 'Operator')
call s:Expect('    dim = config.hidden_size', 'config', 'wmapConfig', 'Keyword')
call s:Expect('    dim = config.hidden_size', '.hidden_size', 'wmapConfigPath', 'Identifier')
let s:l = '    n_kv_heads = config.num_key_value_heads ?? heads'
call s:Expect(s:l, 'n_kv_heads', 'wmapWriteKey', 'Identifier')
call s:Expect(s:l, '??', 'wmapOperator', 'Operator')
call s:Expect(s:l, 'heads ', 'wmapWriteBody', '', 3)
call s:Expect(s:l, '# a comment', 'wmapComment', 'Comment')
let s:l = '    rope_parameters.rope_type = "default"'
call s:Expect(s:l, 'rope_parameters', 'wmapWriteKey', 'Identifier')
call s:Expect(s:l, '.rope_type', 'wmapWriteKey', 'Identifier')
call s:Expect(s:l, 'default', 'wmapPlainString', 'String')
let s:l = '    rope_theta = config.rope_parameters.rope_theta ?? 10000.0'
call s:Expect(s:l, 'rope_theta', 'wmapWriteKey', 'Identifier')
call s:Expect(s:l, '10000.0', 'wmapFloat', 'Float')
let s:l = '    architectures = ["LlamaForCausalLM", "x.{i}"]'
call s:Expect(s:l, 'architectures', 'wmapWriteKey', 'Identifier')
call s:Expect(s:l, '[', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, 'LlamaForCausalLM', 'wmapPlainString', 'String')
call s:Expect(s:l, ',', 'wmapDelimiter', 'Delimiter')
" a plain string: no {captures}
call s:Expect(s:l, '{i}', 'wmapPlainString', 'String')
call s:Expect('    tie_word_embeddings = true', 'tie_word_embeddings', 'wmapWriteKey', 'Identifier')
call s:Expect('    tie_word_embeddings = true', 'true', 'wmapBoolean', 'Boolean')
call s:Expect('    attention_bias = false', 'false', 'wmapBoolean', 'Boolean')
call s:Expect('    ffn_dim_multiplier = null', 'null', 'wmapNull', 'Constant')
" op and dtype names are not special in a write block
let s:l = '    pad = 2 * (dim / 3)'
call s:Expect(s:l, 'pad', 'wmapWriteKey', 'Identifier')
call s:Expect(s:l, '2', 'wmapNumber', 'Number')
call s:Expect(s:l, '*', 'wmapOperator', 'Operator')
call s:Expect(s:l, '(', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, 'dim', 'wmapWriteBody', '')
call s:Expect(s:l, '/', 'wmapOperator', 'Operator')
call s:Expect('    layer-norm.f32 = 1', 'layer-norm', 'wmapWriteKey', 'Identifier')
call s:Expect('    layer-norm.f32 = 1', '-', 'wmapWriteKey', 'Identifier')
call s:Expect('    layer-norm.f32 = 1', 'f32', 'wmapWriteKey', 'Identifier')
call s:Expect('    stop = [', 'stop', 'wmapWriteKey', 'Identifier')
call s:Expect('        "a",', 'a', 'wmapPlainString', 'String')
call s:Expect('        config.x ?? "b",', 'config', 'wmapConfig', 'Keyword')
call s:Expect('        config.x ?? "b",', 'b', 'wmapPlainString', 'String')
let s:l = 'write "config.json" from config {'
call s:Expect(s:l, 'write', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'config.json', 'wmapPlainString', 'String')
call s:Expect(s:l, 'from', 'wmapWriteFrom', 'Keyword')
call s:Expect(s:l, 'config', 'wmapWriteFrom', 'Keyword', 2)
call s:Expect(s:l, '{', 'wmapDelimiter', 'Delimiter')
let s:l = '    vocab_size = config.vocab_size + 24'
call s:Expect(s:l, 'vocab_size', 'wmapWriteKey', 'Identifier')
call s:Expect(s:l, 'config', 'wmapConfig', 'Keyword')
call s:Expect(s:l, '+', 'wmapOperator', 'Operator')
call s:Expect(s:l, '24', 'wmapNumber', 'Number')
let s:l = 'write "one.json" { n = 1 }'
call s:Expect(s:l, 'write', 'wmapKeyword', 'Keyword')
call s:Expect(s:l, 'one.json', 'wmapPlainString', 'String')
call s:Expect(s:l, '{', 'wmapDelimiter', 'Delimiter')
call s:Expect(s:l, 'n =', 'wmapWriteKey', 'Identifier')
call s:Expect(s:l, '1', 'wmapNumber', 'Number')
call s:Expect(s:l, '}', 'wmapDelimiter', 'Delimiter')
" the write block is over
call s:Expect('"after.write" -> "z"', 'after', 'wmapString', 'String')
call s:Expect('"after.write" -> "z"', '->', 'wmapOperator', 'Operator')

" --- true / false / null in expressions
call s:Expect('let flags = [true, false, null]', 'true', 'wmapBoolean', 'Boolean')
call s:Expect('let flags = [true, false, null]', 'false', 'wmapBoolean', 'Boolean')
call s:Expect('let flags = [true, false, null]', 'null', 'wmapNull', 'Constant')

" --- report
call writefile(s:results + [printf('%d assertions, %d failed', len(s:results), s:failures)], s:out)
if s:failures > 0
  cquit
endif
qall!
