" wmap tensor-name mapping files
autocmd BufRead,BufNewFile *.wmap setfiletype wmap
