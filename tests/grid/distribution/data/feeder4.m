% A 4-bus 20 kV radial feeder in MATPOWER format (written for gridflex's tests): one slack, three loads.
function mpc = feeder4
mpc.version = '2';
mpc.baseMVA = 10;
%% bus data
%	bus_i	type	Pd	Qd	Gs	Bs	area	Vm	Va	baseKV	zone	Vmax	Vmin
mpc.bus = [
	1	3	0	0	0	0	1	1.02	0	20	1	1.1	0.9;
	2	1	1.2	0.3	0	0	1	1	0	20	1	1.1	0.9;
	3	1	0.8	0.2	0	0	1	1	0	20	1	1.1	0.9;
	4	1	1.5	0.4	0	0	1	1	0	20	1	1.1	0.9;
];
%% generator data
mpc.gen = [
	1	0	0	10	-10	1.02	10	1	10	0	0	0	0	0	0	0	0	0	0	0	0;
];
%% branch data
mpc.branch = [
	1	2	0.0050	0.0030	0.0004	8	8	8	0	0	1	-360	360;
	2	3	0.0080	0.0040	0.0003	6	6	6	0	0	1	-360	360;
	2	4	0.0060	0.0035	0.0003	6	6	6	0	0	1	-360	360;
];
