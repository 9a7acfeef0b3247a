-- bench_snaxsvc.lua -- the snax service of the `snax` scenario: the same
-- answer as bench_callee, as a snax response method.
function response.echo(first, ...)
	return first, ...
end
