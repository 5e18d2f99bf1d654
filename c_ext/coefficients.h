/* coefficients.h: the kernels' coefficient tables.
 * generated from accel/_optable.py by `python -m accel._codegen`: do not edit.
 * Included by kernels_type.h once per dtype, with T, TS, IS_F32 and FN defined; the names
 * defined here are undefined at the end of kernels_type.h. */
#if IS_F32
static const T FN(expm1_q)[] = {
    0x1.0000000000000p-1f,
    0x1.5554de0000000p-3f,
    0x1.5555ba0000000p-5f,
    0x1.120b1c0000000p-7f,
    0x1.6c69f20000000p-10f};
static const T FN(gelu_p)[] = {
    0x1.9884540000000p-2f,
    -0x1.1058380000000p-4f,
    0x1.46d0400000000p-7f,
    -0x1.373f000000000p-10f,
    0x1.e394c80000000p-14f,
    -0x1.2c62e60000000p-17f};
static const T FN(gelu_lo)[] = {
    0x1.0000000000000p-1f,
    0x1.0000000000000p+1f,
    0x1.2000000000000p+2f};
static const T FN(gelu_h)[] = {
    0x1.9b60aa0000000p+0f,
    -0x1.58910a0000000p-1f,
    0x1.a1657c0000000p-3f,
    -0x1.611b680000000p-5f,
    0x1.2d26e80000000p-8f,
    0x1.54b3140000000p-11f,
    -0x1.7816260000000p-12f,
    0x1.9be27c0000000p-15f,
    0x1.defb820000000p-1f,
    -0x1.2554760000000p-2f,
    0x1.30b4a60000000p-4f,
    -0x1.0ddc0e0000000p-6f,
    0x1.8f6d7a0000000p-9f,
    -0x1.d257440000000p-12f,
    0x1.7a25c00000000p-15f,
    -0x1.3837860000000p-19f,
    0x1.40d90c0000000p+1f,
    -0x1.40bc940000000p+2f,
    0x1.8d10860000000p+4f,
    -0x1.4fd4f40000000p+7f,
    0x1.0e1bfe0000000p+10f,
    -0x1.f2d8440000000p+11f};
static const int FN(gelu_terms)[] = {8, 8, 6};
static const int FN(gelu_w)[] = {0, 0, 1};
#define GELU_B (0x1.0000000000000p-1f)
#define GELU_SMAX (0x1.c000000000000p+3f)
static const T FN(softplus_q)[] = {
    0x1.0000000000000p+0f,
    0x1.5555555555555p-2f,
    0x1.999999999999ap-3f,
    0x1.2492492492492p-3f,
    0x1.c71c71c71c71cp-4f,
    0x1.745d1745d1746p-4f,
    0x1.3b13b13b13b14p-4f,
    0x1.1111111111111p-4f};
#define GELU_TANH_A_HI (0x1.9884540000000p+0f)
#define GELU_TANH_A_LO (-0x1.8579360000000p-25f)
#define GELU_TANH_B_HI (0x1.2444f20000000p-4f)
#define GELU_TANH_B_LO (0x1.49b16a0000000p-29f)
#define GELU_TANH_XMAX (0x1.0000000000000p+4f)
#else
static const T FN(expm1_q)[] = {
    0x1.0000000000000p-1,
    0x1.5555555555555p-3,
    0x1.5555555555555p-5,
    0x1.1111111111111p-7,
    0x1.6c16c16c16c17p-10,
    0x1.a01a01a01a01ap-13,
    0x1.a01a01a01a01ap-16,
    0x1.71de3a556c734p-19,
    0x1.27e4fb7789f5cp-22,
    0x1.ae64567f544e4p-26,
    0x1.1eed8eff8d898p-29,
    0x1.6124613a86d09p-33};
static const T FN(gelu_p)[] = {
    0x1.9884533d43651p-2,
    -0x1.1058377e2cee0p-4,
    0x1.46d04297691dap-7,
    -0x1.37403f6ba10ffp-10,
    0x1.e42b0d5216d85p-14,
    -0x1.3ce8fac14997dp-17,
    0x1.658a2168ffef1p-21,
    -0x1.622263857dad1p-25,
    0x1.3876b55bdf047p-29,
    -0x1.f0493aad91859p-34,
    0x1.53ac0e18c73a2p-38};
static const T FN(gelu_lo)[] = {
    0x1.0000000000000p-1,
    0x1.8000000000000p+0,
    0x1.8000000000000p+1,
    0x1.4000000000000p+2,
    0x1.0000000000000p+3,
    0x1.6000000000000p+3};
static const T FN(gelu_h)[] = {
    0x1.9b60a8f996746p+0,
    -0x1.5890e919d61e7p-1,
    0x1.a15ea4936318dp-3,
    -0x1.608bcc5cc3380p-5,
    0x1.217bf9b0e9202p-8,
    0x1.d94fdef388141p-11,
    -0x1.242946ae956a2p-11,
    0x1.083e7b8b9137bp-13,
    -0x1.418622a2d8120p-18,
    -0x1.ddf3c420f00adp-18,
    0x1.7881a6e467244p-19,
    -0x1.019d403add9efp-21,
    -0x1.70f87c53a4234p-26,
    0x1.2e3498f25e107p-25,
    -0x1.35e7d44f8cd88p-27,
    0x1.f979cf77050aap-31,
    0x1.197f6c99aae2cp+0,
    -0x1.7fdab3bc38addp-2,
    0x1.aaddda8c1160bp-4,
    -0x1.83fbc4fcc9a1bp-6,
    0x1.126693209b759p-8,
    -0x1.e4a80a2e249fap-12,
    -0x1.74766bad16f82p-16,
    0x1.d3b3a5c6a56adp-16,
    -0x1.18610c48d6108p-17,
    0x1.953c543001dcap-20,
    -0x1.dfd8dcb0b7caap-24,
    -0x1.2597c6d2ecfdfp-25,
    0x1.1901cdba5c149p-26,
    -0x1.fba438d94a735p-29,
    0x1.0d72e32d3cd99p-31,
    -0x1.0dbcd8b23f6f5p-35,
    0x1.6b53b7d17cc81p-1,
    -0x1.6a388a0eaf2aep-3,
    0x1.431d35a9af251p-5,
    -0x1.03267cbca4068p-7,
    0x1.73c588d624734p-10,
    -0x1.d3673a56277edp-13,
    0x1.e789bcf2d1579p-16,
    -0x1.5d31c9c680b17p-19,
    -0x1.2701a33816233p-25,
    0x1.6921d8be08473p-24,
    -0x1.9a752bde01e83p-26,
    0x1.3988a14edf4d0p-28,
    -0x1.5d015ef682113p-31,
    0x1.0375407492866p-34,
    -0x1.8169e9338ea6ap-39,
    0x1.deb74d5bbb375p-2,
    -0x1.4fb2fd6d33f87p-4,
    0x1.bc9955e31a001p-7,
    -0x1.1699b66795c76p-9,
    0x1.4a5bb17c03732p-12,
    -0x1.71a554eb5fce6p-15,
    0x1.83df69ba1aed9p-18,
    -0x1.790f2350ed7ecp-21,
    0x1.4b789b4033e09p-24,
    -0x1.f39dc7380a73fp-28,
    0x1.1597aa53924a5p-31,
    -0x1.2bd80777afeaep-37,
    -0x1.288d152af8699p-38,
    0x1.9de5faec5a36bp-41,
    -0x1.158470b05e5dap-44,
    0x1.472f6fb35b2e8p-49,
    0x1.3786b0d2236e5p-2,
    -0x1.2626c497c9ed4p-5,
    0x1.0e62b0ae60486p-8,
    -0x1.e4309886f087bp-12,
    0x1.a659cc31cd48ap-15,
    -0x1.66cda2c76cecbp-18,
    0x1.289fe6edbfee2p-21,
    -0x1.dc80c40784d52p-25,
    0x1.729a041385a93p-28,
    -0x1.14845e85fe62bp-31,
    0x1.81159a846539cp-35,
    -0x1.d293a15b00bd4p-39,
    0x1.a7a5ab2f50485p-43,
    -0x1.9c8208e51e4cbp-48,
    0x1.40d931ff626ffp+1,
    -0x1.40d931ff5f1f5p+2,
    0x1.910f7e79b205cp+4,
    -0x1.72fb1f51f04cep+7,
    0x1.ba6ad0d97a699p+10,
    -0x1.3f9d60b2504fcp+14,
    0x1.0d6a1d656bd49p+18,
    -0x1.fa47b59676ab9p+21,
    0x1.d24a44f3485aep+25,
    -0x1.215999100bb0bp+29};
static const int FN(gelu_terms)[] = {16, 16, 15, 16, 14, 10};
static const int FN(gelu_w)[] = {0, 0, 0, 0, 0, 1};
#define GELU_B (0x1.0000000000000p-1)
#define GELU_SMAX (0x1.3400000000000p+5)
static const T FN(softplus_q)[] = {
    0x1.0000000000000p+0,
    0x1.5555555555555p-2,
    0x1.999999999999ap-3,
    0x1.2492492492492p-3,
    0x1.c71c71c71c71cp-4,
    0x1.745d1745d1746p-4,
    0x1.3b13b13b13b14p-4,
    0x1.1111111111111p-4,
    0x1.e1e1e1e1e1e1ep-5,
    0x1.af286bca1af28p-5,
    0x1.8618618618618p-5,
    0x1.642c8590b2164p-5,
    0x1.47ae147ae147bp-5,
    0x1.2f684bda12f68p-5,
    0x1.1a7b9611a7b96p-5,
    0x1.0842108421084p-5,
    0x1.f07c1f07c1f08p-6};
#define GELU_TANH_A_HI (0x1.9884533d43651p+0)
#define GELU_TANH_A_LO (-0x1.cbc0d30ebfd15p-54)
#define GELU_TANH_B_HI (0x1.2444f2a4d8b4bp-4)
#define GELU_TANH_B_LO (-0x1.6c843a29d1c70p-61)
#define GELU_TANH_XMAX (0x1.0000000000000p+5)
#endif
