#!/usr/bin/perl
# Perl workload for tests/programs/run.sh: hashes, regexes, sorting, string
# building. Output must be deterministic (hash order never printed unsorted).
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

# Small deterministic LCG, independent of perl's rand().
my $state = 987654321;
sub rnd { $state = ($state * 1103515245 + 12345) % 2147483648; return $state >> 8; }
my @L = ('a' .. 'z');
sub word {
    my ($lo, $hi) = @_;
    my $n = $lo + rnd() % ($hi - $lo + 1);
    return join '', map { $L[rnd() % 26] } 1 .. $n;
}

# --- hashes --------------------------------------------------------------
my %h;
for my $i (1 .. 150000) {
    my $k = word(2, 7);
    $h{$k} += $i % 97;
    push @{ $h{"list:" . ($i % 500)} }, $i if $i % 3 == 0;
}
my @lists = grep { /^list:/ } keys %h;
my $lsum = 0;
$lsum += scalar(@{ $h{$_} }) for @lists;
delete $h{$_} for @lists;
my $vsum = 0;
$vsum += $_ for values %h;
print "hash keys=", scalar(keys %h), " sum=$vsum lists=", scalar(@lists), " lsum=$lsum\n";
my @top = (sort { $h{$b} <=> $h{$a} || $a cmp $b } keys %h)[0 .. 14];
print "top: ", join(',', map { "$_=$h{$_}" } @top), "\n";
my %inv;
push @{ $inv{ $h{$_} } }, $_ for keys %h;
print "inv: ", scalar(keys %inv), " ", md5_hex(join ';', map { "$_:" . join(',', sort @{ $inv{$_} }) } sort { $a <=> $b } keys %inv), "\n";
for my $k (keys %h) { delete $h{$k} if length($k) % 3 == 0 }
print "after delete: ", scalar(keys %h), "\n";

# --- string building and regexes ------------------------------------------
my $text = '';
for my $i (1 .. 30000) {
    $text .= sprintf("%s-%05d <%s\@%s.org> %s;\n", word(3, 9), rnd() % 100000,
        word(2, 6), word(3, 5), join(' ', map { word(1, 8) } 1 .. (rnd() % 7)));
}
print "text length=", length($text), " md5=", md5_hex($text), "\n";
my @mails = $text =~ /<(\w+)\@(\w+)\.org>/g;
my %dom;
for (my $i = 0; $i < @mails; $i += 2) { $dom{ $mails[$i + 1] }++ }
print "mails=", scalar(@mails) / 2, " domains=", scalar(keys %dom), "\n";
my $num = 0;
$num += $1 while $text =~ /-(\d+)\s/g;
print "numsum=$num\n";
(my $t2 = $text) =~ s/([aeiou])([^aeiou\W]+)/\U$2\E$1/g;
print "subst md5=", md5_hex($t2), "\n";
my $count = () = $t2 =~ /[A-Z]{3,}/g;
print "caps runs=$count\n";
my @lines = split /\n/, $text;
my @f = map { [ split /[\s;<>@.]+/ ] } @lines;
my $fields = 0;
$fields += scalar(@$_) for @f;
print "lines=", scalar(@lines), " fields=$fields\n";
my $tr = $text;
(my $n_e = ($tr =~ tr/e/E/));
print "tr=$n_e\n";

# --- sorting -------------------------------------------------------------
my @recs = map { [ word(1, 5), rnd() % 1000, $_ ] } 1 .. 60000;
my @s1 = sort { $a->[0] cmp $b->[0] || $b->[1] <=> $a->[1] || $a->[2] <=> $b->[2] } @recs;
print "sort1 ", md5_hex(join ',', map { "@$_" } @s1[ grep { $_ % 1000 == 0 } 0 .. $#s1 ]), "\n";
my @s2 = map { $_->[1] } sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] }
    map { [ length($_->[0]) * 1000 + $_->[1], "$_->[0]/$_->[2]" ] } @recs;
print "sort2 ", md5_hex(join ',', @s2), "\n";
my @nums = sort { $a <=> $b } map { (rnd() % 1000000) / 7 } 1 .. 50000;
printf "nums %.6f %.6f %.6f\n", $nums[0], $nums[25000], $nums[-1];
my @u = do { my %seen; grep { !$seen{$_}++ } map { $_->[0] } @recs };
print "uniq=", scalar(@u), " rev=", join(',', (reverse sort @u)[0 .. 5]), "\n";

# --- nested structures, join/split, sprintf ---------------------------------
my %tree;
for my $i (1 .. 40000) {
    my @p = map { word(1, 2) } 1 .. 3;
    $tree{ $p[0] }{ $p[1] }{ $p[2] } .= chr(65 + $i % 26);
}
my $leaves = 0;
my $chars = 0;
for my $a (sort keys %tree) {
    for my $b (sort keys %{ $tree{$a} }) {
        for my $c (sort keys %{ $tree{$a}{$b} }) {
            $leaves++;
            $chars += length $tree{$a}{$b}{$c};
        }
    }
}
print "tree leaves=$leaves chars=$chars\n";
my $out = join "\n", map { sprintf "%-8s|%8.3f|%x", word(1, 8), rnd() / 1000, rnd() } 1 .. 20000;
print "sprintf md5=", md5_hex($out), "\n";
my $rep = "ab" x 100000;
$rep =~ s/ba/xyz/g;
print "rep len=", length($rep), "\n";
print "done\n";
