#!/usr/bin/env bash
# summarize.sh: the benchmark's table and charts from its CSV.
#
# Usage: summarize.sh CSV SPEC OUTDIR MACHINE NOTE
#   CSV   round,row,metric,value,errors (run.sh writes it)
#   SPEC  tab-separated: section, row, metric, label, baseline row ("-": none);
#         a section is NAME:TITLE (NAME.png is its chart); no commas in
#         titles and labels
# Prints the markdown table (also OUTDIR/table.md), writes OUTDIR/summary.csv
# (section,row,metric,label,median,min,max,ratio,errors,rounds,failed: runs
# that measured nothing, left out of the statistics) and one PNG
# per section with gnuplot: each bar a median, its whisker the min-max.
set -euo pipefail

CSV=$1 SPEC=$2 OUT=$3 MACHINE=$4 NOTE=$5
mkdir -p "$OUT"

# Medians, ranges and ratios, in the order and with the labels of SPEC.
awk -F'\t' -v OFS=',' '
    FNR == NR {
        if (FNR == 1) next
        split ($0, f, ",")
        if (f[3] == "failed") {
            failed[f[2]]++
            next
        }
        key = f[2] SUBSEP f[3]
        count[key]++
        value[key, count[key]] = f[4] + 0
        errors[key] += f[5]
        next
    }
    function median (key,    n, i, j, t, v) {
        n = count[key]
        for (i = 1; i <= n; i++) v[i] = value[key, i]
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
                t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
            }
        low[key] = v[1]; high[key] = v[n]
        return n % 2? v[(n + 1) / 2]: (v[n / 2] + v[n / 2 + 1]) / 2
    }
    {
        key = $2 SUBSEP $3
        if (!(key in count)) next
        base = $5 SUBSEP $3
        reference = ($5 != "-" && (base in count))? median(base): 0
        m = median(key)
        ratio = reference > 0? sprintf ("%.2f", m / reference): ""
        print $1, $2, $3, $4, m, low[key], high[key], ratio, errors[key],
              count[key], failed[$2] + 0
    }' "$CSV" "$SPEC" >"$OUT/summary.csv.body"
{
    echo "section,row,metric,label,median,min,max,ratio,errors,rounds,failed"
    cat "$OUT/summary.csv.body"
} >"$OUT/summary.csv"
rm -f "$OUT/summary.csv.body"

# The markdown table.
awk -F',' -v machine="$MACHINE" -v note="$NOTE" '
    function number (x) {
        if (x >= 100) return sprintf ("%d", x + 0.5)
        if (x >= 10) return sprintf ("%.1f", x)
        return sprintf ("%.2f", x)
    }
    BEGIN {
        print "Machine: " machine
        print "Run: " note
    }
    NR == 1 { next }
    {
        label = $4
        if ($1 != section) {
            section = $1
            print ""
            print "**" substr (section, index (section, ":") + 1) "**"
            print ""
            print "| system | metric | median | min–max | × plain ZeroMQ | errors |"
            print "| --- | --- | ---: | ---: | ---: | ---: |"
        }
        printf "| %s | %s | %s | %s–%s | %s | %s%s |\n", label, $3,
               number($5), number($6), number($7), $8 == ""? "—": $8 "×", $9,
               ($11 > 0)? " (" $11 " failed run" (($11 > 1)? "s": "") ")": ""
    }' "$OUT/summary.csv" | tee "$OUT/table.md"

# One chart per section.
command -v gnuplot >/dev/null || { echo "summarize.sh: no gnuplot, no charts" >&2; exit 0; }
awk -F',' 'NR > 1 { print $1 }' "$OUT/summary.csv" | uniq | while read -r section; do
    name=${section%%:*}
    title=${section#*:}
    data="$OUT/.chart-$name.dat"
    awk -F',' -v s="$section" -v OFS='\t' 'NR > 1 && $1 == s {
        metric = $3
        sub (/_(us|ms|per_sec)$/, "", metric)
        label = (metric == "tasks" || metric == "mb")? $4: $4 " " metric
        print "\"" label "\"", $5, $6, $7 }' "$OUT/summary.csv" >"$data"
    scale="set yrange [0:*]"
    case $name in latency*|pool*) scale="set logscale y" ;; esac
    gnuplot <<EOF
set terminal pngcairo size 1100,620 font "sans,9" noenhanced
set output "$OUT/$name.png"
set title "$title\n$MACHINE"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.6 border -1
set boxwidth 0.8
set xtics rotate by -35 left
set grid ytics
set key off
$scale
set bmargin 12
set rmargin 14
plot "$data" using 2:3:4:xtic(1) linecolor rgb "#3b6ea8"
EOF
    rm -f "$data"
done
