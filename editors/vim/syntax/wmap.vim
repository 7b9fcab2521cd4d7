" Vim syntax file
" Language:   wmap (tensor-name mapping rules for ML checkpoints)
" Filenames:  *.wmap
" Install:    set runtimepath+=/path/to/wmap/editors/vim

if exists('b:current_syntax')
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syn case match
" Statements may continue over several lines (`|` / `->` continuation lines); files are small.
syn sync fromstart

" ---------------------------------------------------------------- comments
syn keyword wmapTodo       contained TODO FIXME XXX NOTE
syn match   wmapComment    "#.*$" contains=wmapTodo,@Spell

" ---------------------------------------------------------------- expressions
syn match   wmapDelimiter  "[()\[\],]"
syn match   wmapOperator   "[-+*/=]"
syn match   wmapOperator   "??"
syn match   wmapOperator   "->"
" the word after a pipe is always an op
syn match   wmapPipe       "|" nextgroup=wmapBuiltin,wmapCastOp,wmapOpCall,wmapOpStage skipwhite
syn match   wmapOpStage    "\h\w*" contained

syn match   wmapNumber     "\%([[:alnum:]_.)\]]\)\@<!-\=\<\d\+\>"
syn match   wmapFloat      "\%([[:alnum:]_.)\]]\)\@<!-\=\<\d\+\%(\.\d\+\%([eE][-+]\=\d\+\)\=\|[eE][-+]\=\d\+\)\>"

" name= (named op argument)
syn match   wmapNamedArg   "\<\h\w*\ze\s*=\%(=\)\@!"
" any identifier followed by `(` is an op call; builtins are keywords and win
syn match   wmapOpCall     "\<\h\w*\ze\s*("
syn keyword wmapBuiltin    transpose permute reshape split concat stack unstack slice add mul unsqueeze neg abs sqrt exp log index_select repeat repeat_interleave pad zeros ones full dequant_fp8 quant_fp8
syn match   wmapCastOp     "\<cast\ze\s*("

syn keyword wmapDtype      bool u8 u16 u32 u64 i8 i16 i32 i64 f16 bf16 f32 f64 f8_e4m3 f8_e5m2 f4 f6_e2m3 f6_e3m2 f8_e8m0 f8_e4m3fnuz f8_e5m2fnuz c64
syn keyword wmapDtypeClass float
" `shape[k]`; `shape=` is a named argument (`make zeros(shape=[n])`)
syn match   wmapShape      "\<shape\>\%(\s*=\%(=\)\@!\)\@!"
" pad(fill=mean)
syn match   wmapFillMean   "\%(\<fill\s*=\s*\)\@<=mean\>"
syn match   wmapConfig     "\<config\>" nextgroup=wmapConfigPath
syn match   wmapConfigPath "\%(\s*\.\s*\h\w*\)\+" contained
" the JSON literals of a `write` value; matches, not keywords, so that a key `true = 1` stays a key
syn match   wmapBoolean    "\<\%(true\|false\)\>"
syn match   wmapNull       "\<null\>"

" ---------------------------------------------------------------- strings and {captures}
syn match   wmapEscape     +\\[\\"]+ contained
syn region  wmapString     start=+"+ skip=+\\[\\"]+ end=+"\|$+ contains=wmapEscape,wmapCapture
" a plain string (a file name or a value of a `write`): no {captures}
syn region  wmapPlainString start=+"+ skip=+\\[\\"]+ end=+"\|$+ contained contains=wmapEscape

" {i}  {name:*}  {name:**}  {p:query|key|value}  {i + 1}
syn match   wmapCapture    +{\s*\h\w*\%(\s*:[^{}"]*\|[^{}":]*\)}+ contained
      \ contains=wmapCaptureDelim,wmapCaptureName,wmapCaptureOp,wmapCaptureNum,wmapCaptureKind,wmapCaptureAlt,wmapCaptureSep
syn match   wmapCaptureDelim +[{}:]+ contained
syn match   wmapCaptureName  +\%({\s*\)\@<=\h\w*+ contained
syn match   wmapCaptureOp    +[-+*/]+ contained
syn match   wmapCaptureNum   +\d\++ contained
syn match   wmapCaptureKind  +\%(:\s*\)\@<=\*\*\=\ze\s*}+ contained
syn match   wmapCaptureAlt   +\%(:[^{}]*\)\@<=[^|{}:*[:space:]]\++ contained
syn match   wmapCaptureSep   +|+ contained

" ---------------------------------------------------------------- statements
" keywords are recognised at the start of a statement (one statement per line)
syn match   wmapHeader     "^\s*\zswmap\>" nextgroup=wmapVersion skipwhite
syn match   wmapVersion    "\d\+\>" contained
syn match   wmapKeyword    "^\s*\zs\%(use\|drop\|tie\|fallback\|also\|optional\)\>"
syn match   wmapKeyword    "^\s*\zsoptional\s\+\%(drop\|tie\|fallback\|also\)\>"
syn match   wmapKeyword    "^\s*\zscast\>\%(\s*(\)\@!"
" use "FILE" under "SOURCE_PREFIX" [-> "TARGET_PREFIX"]
syn match   wmapKeyword    +\%(^\s*use\s\+"\%([^"\\]\|\\.\)*"\s*\)\@<=under\>+
" RULE when EXPR: after the (closing quote or bracket of the) targets of a rule
syn match   wmapKeyword    +\%(["\]]\s*\)\@<=\<when\>+
syn match   wmapKeyword    "^\s*\zstarget\>" nextgroup=wmapTargetName skipwhite
syn match   wmapTargetName "\h[[:alnum:]_.-]*" contained
syn match   wmapKeyword    "^\s*\zslet\>" nextgroup=wmapLetName skipwhite
syn match   wmapKeyword    "^\s*\zswords\>" nextgroup=wmapLetName skipwhite
syn match   wmapLetName    "\h\w*" contained
syn match   wmapKeyword    "^\s*\zsop\>" nextgroup=wmapOpName skipwhite
syn match   wmapOpName     "\h\w*" contained nextgroup=wmapOpParams skipwhite
syn region  wmapOpParams   matchgroup=wmapDelimiter start="(" end=")" contained oneline contains=wmapParam,wmapDelimiter
syn match   wmapParam      "\h\w*" contained

" ---------------------------------------------------------------- regex rules
" regex "SOURCE-REGEX" [| op]* -> "TEMPLATE $1 ${name}"
" The rule ends at the first line that is not a continuation (`|`, `->`), comment or blank line.
syn cluster wmapExpr contains=wmapDelimiter,wmapOperator,wmapPipe,wmapNumber,wmapFloat,wmapNamedArg,wmapOpCall,wmapBuiltin,wmapCastOp,wmapDtype,wmapDtypeClass,wmapShape,wmapFillMean,wmapConfig,wmapBoolean,wmapNull
syn region  wmapRegexRule  matchgroup=wmapKeyword start="^\s*\zs\%(optional\s\+\)\=regex\>"
      \ end="^\%(\s*\%(->\||\|#\|$\)\)\@!"
      \ contains=wmapComment,wmapRegex,wmapRegexTargets,@wmapExpr
syn region  wmapRegexTargets matchgroup=wmapOperator start="->"
      \ end="^\%(\s*\%(->\||\|#\|$\)\)\@!" contained
      \ contains=wmapComment,wmapTemplate,wmapTemplateList,@wmapExpr
syn region  wmapTemplateList matchgroup=wmapDelimiter start="\[" end="\]" contained
      \ contains=wmapComment,wmapTemplate,wmapDelimiter

syn region  wmapRegex      start=+"+ skip=+\\[\\"]+ end=+"\|$+ contained
      \ contains=wmapEscape,wmapRegexMeta,wmapRegexGroup,wmapRegexClass,wmapRegexEscape
syn match   wmapRegexMeta  +[\^$|()*+?.]+ contained
syn match   wmapRegexMeta  +{\d\+\%(,\d*\)\=}+ contained
syn match   wmapRegexGroup +(?\%(P\=<\h\w*>\|[:=!]\|<[=!]\)+ contained
syn match   wmapRegexClass +\[\^\=\%([^\]\\"]\|\\[^"]\)*\]+ contained contains=wmapEscape,wmapRegexEscape
syn match   wmapRegexEscape +\\[^\\"]+ contained

syn region  wmapTemplate   start=+"+ skip=+\\[\\"]+ end=+"\|$+ contained contains=wmapEscape,wmapTemplateRef
syn match   wmapTemplateRef +\$\d\++ contained
syn match   wmapTemplateRef +\${\s*\h\w*\s*}+ contained

" ---------------------------------------------------------------- make rules
" make FILL [like PATTERN] [| op]* -> TARGETS [for i in START..END, ...]
" Like a regex rule, it ends at the first line that is not a continuation, comment or blank line;
" ( and [ may stay open over lines (op arguments, target lists).
syn region  wmapMakeRule   matchgroup=wmapKeyword start="^\s*\zs\%(optional\s\+\)\=make\>"
      \ end="^\%(\s*\%(->\||\|#\|$\)\)\@!"
      \ contains=wmapComment,wmapString,wmapMakeFill,wmapMakeLike,wmapMakeGroup,wmapMakeTargets,@wmapExpr
" the op right after `make` (the builtin fills zeros/ones/full are keywords and win)
syn match   wmapMakeFill   "\%(^\s*\%(optional\s\+\)\=make\s\+\)\@<=\%(like\>\)\@!\h\w*" contained
syn keyword wmapMakeLike   like contained
syn region  wmapMakeGroup  matchgroup=wmapDelimiter start="(" end=")" contained
      \ contains=wmapComment,wmapString,wmapMakeGroup,wmapMakeList,@wmapExpr
syn region  wmapMakeList   matchgroup=wmapDelimiter start="\[" end="\]" contained
      \ contains=wmapComment,wmapString,wmapMakeGroup,wmapMakeList,@wmapExpr
syn region  wmapMakeTargets matchgroup=wmapOperator start="->"
      \ end="^\%(\s*\%(->\||\|#\|$\)\)\@!" contained
      \ contains=wmapComment,wmapString,wmapMakeList,wmapMakeFor,wmapMakeWhen,@wmapExpr
" for i in 0..n, e in 0..config.num_experts   (after the targets, on the same line; it ends before a
" comment, since a contained `#.*$` would carry the region over to the next line, and before `when`)
syn region  wmapMakeFor    matchgroup=wmapKeyword start="\<for\>" end="$\|\ze#\|\ze\<when\>" contained
      \ contains=wmapMakeVar,wmapMakeIn,wmapRange,wmapRangeEnd,wmapMakeGroup,wmapMakeList,@wmapExpr
syn match   wmapMakeVar    "\<\h\w*\ze\s\+in\>" contained
syn keyword wmapMakeIn     in contained
syn match   wmapRange      "\.\." contained
" the end of a range: `..` is not part of a number
syn match   wmapRangeEnd   "\%(\.\.\s*\)\@<=-\=\d\+\>" contained
" ... -> TARGETS [for ...] when EXPR
syn match   wmapMakeWhen   "\<when\>" contained

" ---------------------------------------------------------------- write
" write "FILE.json" [from config] {
"     KEY = VALUE          (KEY: a key or a dotted path of keys; VALUE: true, false, null, a string,
"     ...                   a number, a list, an integer expression, config.key [?? VALUE])
" }
syn region  wmapWrite      matchgroup=wmapKeyword start="^\s*\zswrite\>" end="$"
      \ contains=wmapComment,wmapPlainString,wmapWriteFrom,wmapWriteBody
syn match   wmapWriteFrom  "\<from\s\+config\>" contained
syn region  wmapWriteBody  matchgroup=wmapDelimiter start="{" end="}" contained
      \ contains=wmapComment,wmapPlainString,wmapWriteKey,wmapDelimiter,wmapOperator,wmapNumber,wmapFloat,wmapConfig,wmapBoolean,wmapNull
" a key: at the start of a line of the block (or right after its `{`), before `=`
syn match   wmapWriteKey   "\%(^\s*\|{\s*\)\@<=[[:alnum:]_-]\+\%(\.[[:alnum:]_-]\+\)*\ze\s*=\%(=\)\@!" contained

" ---------------------------------------------------------------- highlighting
hi def link wmapComment      Comment
hi def link wmapTodo         Todo
hi def link wmapKeyword      Keyword
hi def link wmapHeader       wmapKeyword
hi def link wmapVersion      Number
hi def link wmapTargetName   Constant
hi def link wmapLetName      Identifier
hi def link wmapOpName       Function
hi def link wmapParam        Identifier
hi def link wmapString       String
hi def link wmapPlainString  wmapString
hi def link wmapEscape       SpecialChar
hi def link wmapCapture      Special
hi def link wmapCaptureDelim Delimiter
hi def link wmapCaptureName  Special
hi def link wmapCaptureOp    Operator
hi def link wmapCaptureNum   Number
hi def link wmapCaptureKind  Operator
hi def link wmapCaptureAlt   Constant
hi def link wmapCaptureSep   Delimiter
hi def link wmapRegex        String
hi def link wmapRegexMeta    Special
hi def link wmapRegexGroup   wmapRegexMeta
hi def link wmapRegexClass   Special
hi def link wmapRegexEscape  SpecialChar
hi def link wmapTemplate     String
hi def link wmapTemplateRef  Special
hi def link wmapConfig       Keyword
hi def link wmapConfigPath   Identifier
hi def link wmapBoolean      Boolean
hi def link wmapNull         Constant
hi def link wmapWriteFrom    wmapKeyword
hi def link wmapWriteKey     Identifier
hi def link wmapShape        Keyword
hi def link wmapDtype        Type
hi def link wmapDtypeClass   Type
hi def link wmapBuiltin      Function
hi def link wmapCastOp       wmapBuiltin
hi def link wmapOpCall       Function
hi def link wmapOpStage      Function
hi def link wmapNamedArg     Identifier
hi def link wmapFillMean     Constant
hi def link wmapMakeFill     wmapOpStage
hi def link wmapMakeLike     wmapKeyword
hi def link wmapMakeIn       wmapKeyword
hi def link wmapMakeWhen     wmapKeyword
hi def link wmapMakeVar      wmapCaptureName
hi def link wmapRange        Operator
hi def link wmapRangeEnd     wmapNumber
hi def link wmapNumber       Number
hi def link wmapFloat        Float
hi def link wmapOperator     Operator
hi def link wmapPipe         Operator
hi def link wmapDelimiter    Delimiter

let b:current_syntax = 'wmap'

let &cpo = s:cpo_save
unlet s:cpo_save
